"""`python -m episampler.integrations.lerobot ARGS`: `lerobot-train` with episampler."""

from episampler.integrations.lerobot import main

main()
