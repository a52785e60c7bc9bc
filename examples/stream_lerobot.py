"""Stream a LeRobot v3 dataset from a URL (or a local path), every frame once per epoch, and
resume it exactly after a stop, with DataLoader workers.

    python examples/stream_lerobot.py --repo-id USER/NAME --root https://HOST/PATH/USER/NAME

Only the files of the windows being read are on the local disk (`cache_bytes`). Needs LeRobot 0.6
(`pip install "lerobot[dataset]"`) and, for http(s) URLs, fsspec with aiohttp.
"""

from __future__ import annotations

import argparse
import tempfile


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo-id", required=True, help="the dataset's repo id")
    parser.add_argument("--root", required=True, help="a URL or a local directory")
    args = parser.parse_args(argv)
    try:
        import lerobot.datasets.lerobot_dataset  # noqa: F401
    except ImportError:
        raise SystemExit(
            'examples/stream_lerobot.py needs LeRobot 0.6: pip install "lerobot[dataset]"'
        ) from None
    import torch

    cache = tempfile.mkdtemp(prefix="episampler-example-")
    # --8<-- [start:stream]
    from episampler import resume_from_step
    from episampler.integrations.lerobot import EpisodeStream

    def make_loader():
        stream = EpisodeStream(
            args.repo_id, root=args.root, seed=0, batch_size=8, cache_dir=cache,
            cache_bytes=2**30,  # local disk for the files being read and fetched ahead
        )  # fmt: skip
        return torch.utils.data.DataLoader(stream, batch_size=8, num_workers=2)

    loader = make_loader()
    epoch = [batch["index"].tolist() for batch in loader]  # a new pass is the next epoch

    resumed = make_loader()
    resume_from_step(resumed, 3)  # after 3 steps of a stopped run
    # --8<-- [end:stream]
    frames = sorted(index for batch in epoch for index in batch)
    assert frames == sorted(set(frames)) == list(range(len(loader.dataset)))
    assert [batch["index"].tolist() for batch in resumed] == epoch[3:]
    print(
        f"{args.repo_id}: {len(frames)} frames streamed once each in {len(epoch)} batches; "
        "resumed after step 3: the same batches"
    )


if __name__ == "__main__":
    main()
