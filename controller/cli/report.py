"""`rigbench report`: see the module that implements it."""
