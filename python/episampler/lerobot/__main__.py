"""`python -m episampler.lerobot ARGS`: `lerobot-train` with episampler."""

from episampler.lerobot.train import main

main()
