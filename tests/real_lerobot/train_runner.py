"""Runs LeRobot's real training entry point and records the frames every step consumed.

    python -m tests.real_lerobot.train_runner RECORD MODE [lerobot-train arguments...]

MODE `episampler` goes through `episampler.lerobot.main` (the documented one step);
MODE `lerobot` runs LeRobot alone. Each batch the training loop takes from its dataloader is
appended to RECORD (`RECORD.rank<r>` for rank r of several processes) as one JSON line: the
batch's `index` column (absolute frame indices), or with several datasets its
`[dataset_index, index]` pairs.
With `STOP_AFTER_STEPS=K` in the environment the process dies (`os._exit`, like a killed job)
when the loop asks for the batch of step K + 1, after step K's checkpoint was written.
"""

from __future__ import annotations

import json
import os
import sys

STOPPED_EXIT_CODE = 75


def main() -> None:
    record, mode, *args = sys.argv[1:]
    if "RANK" in os.environ:  # one of several processes (torchrun-style): a record per rank
        record = f"{record}.rank{os.environ['RANK']}"
    stop_after = os.environ.get("STOP_AFTER_STEPS")
    from lerobot.scripts import lerobot_train

    take_batches = lerobot_train.cycle

    def recording_cycle(dataloader):
        for taken, batch in enumerate(take_batches(dataloader)):
            if stop_after is not None and taken == int(stop_after):
                os._exit(STOPPED_EXIT_CODE)
            frames = batch["index"].tolist()
            if "dataset_index" in batch:
                frames = [
                    list(p) for p in zip(batch["dataset_index"].tolist(), frames, strict=True)
                ]
            with open(record, "a") as out:
                out.write(json.dumps(frames) + "\n")
            yield batch

    lerobot_train.cycle = recording_cycle
    if mode == "episampler":
        from episampler.lerobot import main as train_with_episampler

        train_with_episampler(args)
    elif mode == "lerobot":
        sys.argv = ["lerobot-train", *args]
        lerobot_train.main()
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
