"""`rigbench fleet`: see the module that implements it."""
