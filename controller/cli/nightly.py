"""`rigbench nightly`: see the module that implements it."""
