"""`rigbench export`: see the module that implements it."""
