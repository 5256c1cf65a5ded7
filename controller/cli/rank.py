"""`rigbench rank`: see the module that implements it."""
