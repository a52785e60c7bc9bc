"""Every benchmark of episampler (none ships in the package): `python -m benches.compare` (the
sampler against torch and a LeRobot-style baseline), `python -m benches.video` (LeRobot video
loading), the scripts beside them and the pytest-benchmark groups (`make bench-python`)."""
