"""A LeRobot dataset in your own training loop: `EpisodeAwareSampler.from_lerobot` reads the
episode boundaries (and selection) of a LeRobotDataset (v3, or v2.1), and the loop resumes
exactly from its step, with DataLoader workers. (To keep LeRobot's own training script, run
`episampler-lerobot-train` instead: see the guide "Train with lerobot-train".)

Run: python examples/lerobot_dataset.py --repo-id USER/NAME [--root DIR]
(needs: pip install "lerobot[dataset]"; without --root the dataset comes from the Hub cache)
"""

from __future__ import annotations

import argparse


def train(dataset, checkpoint, total_steps, crash_at=None):
    seen, saved = {}, None
    # --8<-- [start:lerobot]
    from torch.utils.data import DataLoader

    from episampler import EpisodeAwareSampler, resume_from_step

    sampler = EpisodeAwareSampler.from_lerobot(
        dataset, drop_n_last_frames=2, shuffle=True, seed=1234
    )
    loader = DataLoader(dataset, sampler=sampler, batch_size=8, num_workers=2)
    step = 0 if checkpoint is None else checkpoint["step"]
    resume_from_step(loader, step)  # batch size and drop_last read from the loader
    while step < total_steps:
        for batch in loader:  # LeRobot items: dicts of tensors, "index" is the frame's row
            seen[step] = batch["index"].tolist()  # your training step
            step += 1
            if step % 5 == 0:
                saved = {"step": step}  # your checkpoint
            if step in (total_steps, crash_at):
                break
        if step == crash_at:
            break
    # --8<-- [end:lerobot]
    return seen, saved, sampler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo-id", required=True, help="the dataset's repo id")
    parser.add_argument("--root", help="its local directory (default: LeRobot's cache)")
    args = parser.parse_args(argv)
    try:
        from lerobot.datasets.lerobot_dataset import LeRobotDataset
    except ImportError:
        try:  # LeRobot 0.3.x
            from lerobot.common.datasets.lerobot_dataset import LeRobotDataset
        except ImportError:
            raise SystemExit(
                'examples/lerobot_dataset.py needs LeRobot: pip install "lerobot[dataset]"'
            ) from None
    dataset = LeRobotDataset(args.repo_id, root=args.root)

    uninterrupted, _, sampler = train(dataset, None, 30)
    _, checkpoint, _ = train(dataset, None, 30, crash_at=13)
    resumed, _, _ = train(dataset, checkpoint, 30)
    assert checkpoint == {"step": 10}
    assert all(resumed[s] == uninterrupted[s] for s in range(10, 30))
    per_epoch = -(-sampler.num_frames // 8)
    first_epoch = [row for s in range(min(per_epoch, 30)) for row in uninterrupted[s]]
    assert len(first_epoch) == len(set(first_epoch))  # no frame twice within an epoch
    print(
        f"{args.repo_id}: {sampler.num_frames} frames kept; resumed at step 10 after a crash "
        f"at step 13: steps 10..29 identical"
    )

    if not str(dataset.meta.info.get("codebase_version", "")).startswith("v3"):
        return  # window="auto" and BatchedFetch read LeRobot v3 datasets (LeRobot 0.4 and later)

    # The read-local order sized to one worker's video decoder cache (the global order, with a
    # log line saying so, on a dataset without video).
    import torch

    from episampler import EpisodeAwareSampler

    # --8<-- [start:auto-window]
    sampler = EpisodeAwareSampler.from_lerobot(dataset, shuffle=True, seed=1234, window="auto")
    # --8<-- [end:auto-window]
    frames = list(sampler)
    assert sorted(frames) == sorted(set(frames)) and len(frames) == sampler.num_frames
    print(f'window="auto": window={sampler.window}, every frame once per epoch')

    # Whole batches fetched at once: the items equal dataset[i]'s.
    # fmt: off
    # --8<-- [start:batched-fetch]
    from episampler.lerobot import BatchedFetch

    loader = torch.utils.data.DataLoader(
        BatchedFetch(dataset), batch_size=64, num_workers=4,
        sampler=EpisodeAwareSampler.from_lerobot(dataset, shuffle=True, window="auto"),
    )
    # --8<-- [end:batched-fetch]
    # fmt: on
    batch = next(iter(loader))
    for position, row in enumerate(batch["index"].tolist()[:8]):
        item = dataset[row]
        for key, value in item.items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(batch[key][position], value), (row, key)
    print("BatchedFetch: the first batch's items equal dataset[i]'s")

    # All of it in one call, with lerobot-train's worker settings (spawn, prefetch 4).
    # --8<-- [start:make-loader]
    from episampler.integrations.lerobot import make_loader

    loader = make_loader(dataset, batch_size=64, num_workers=2, seed=0)
    # --8<-- [end:make-loader]
    # The same batches as a plain loader over dataset[i] with the same order.
    same_order = EpisodeAwareSampler.from_lerobot(dataset, shuffle=True, seed=0)
    plain = torch.utils.data.DataLoader(dataset, batch_size=64, sampler=same_order)
    first, expected = next(iter(loader)), next(iter(plain))
    assert all(
        torch.equal(first[key], value)
        for key, value in expected.items()
        if isinstance(value, torch.Tensor)
    )
    print("make_loader: its first batch equals a plain DataLoader's over dataset[i]")


if __name__ == "__main__":
    main()
