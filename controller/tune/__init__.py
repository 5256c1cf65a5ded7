"""`rigbench tune`: search each device's configurations for the best one (docs/tune.md).

``config`` names a configuration, ``space`` lists those a device can run, ``race`` decides
which to measure next and which to drop (pure: no clock, no I/O), ``evidence`` and
``quantile`` turn trials into intervals, ``synthetic`` simulates spaces for tests and
benchmarks.
"""
