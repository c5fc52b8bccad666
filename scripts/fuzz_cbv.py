"""Coverage-guided fuzzing of the .cbv reader and decoders with atheris (a developer tool, not run in CI).

Each input picks a seed file (one per codec family), then mutates its header (a field set to a value of any
JSON type, digests recomputed so the file passes every checksum) or a chunk's bytes (digests recomputed), and
reads + decodes the result. Anything but the original voxels or a CerebroError is a finding: atheris stops and
writes the input. Inputs that reached new code are kept in the corpus folder; copy the useful ones to
Testing/fuzz_corpus/ (the suite replays them).

    pip install atheris
    python scripts/fuzz_cbv.py CORPUS_DIR -max_total_time=600
    python scripts/fuzz_cbv.py CORPUS_DIR --only=roi --isolated -max_total_time=300   # one codec's seeds
    python scripts/fuzz_cbv.py --export CORPUS_DIR Testing/fuzz_corpus   # the crafted .cbv of each input
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from cbv_mutations import decode_file, field_paths, members, rebuild, seed_files, set_path

ONLY = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--only=")), "")
"""``--only=CODEC``: fuzz the seed files of that codec only (e.g. ``--only=roi``)."""
SEEDS = {name: data for name, data in seed_files().items() if name.startswith(ONLY)}
atheris.instrument_all()  # the codecs and their helpers are imported by seed_files(): cover them too
NAMES = sorted(SEEDS)
FOLDER = Path(tempfile.mkdtemp(prefix="cerebro-fuzz-"))
VALUES = [0, -1, 1, 2**31, 10**30, 1.5, float("1e308"), "", "x", "int16", None, True, [], {}, [96, 96, 96], [0],
          {"kind": "siren", "width": 10**6, "depth": 3}]


def crafted(data: bytes) -> bytes:
    """The .cbv file an atheris input describes (see the module docstring)."""
    provider = atheris.FuzzedDataProvider(data)
    seed = SEEDS[NAMES[provider.ConsumeIntInRange(0, len(NAMES) - 1)]]
    parts = members(seed)
    header = json.loads(parts["header.json"])
    if provider.ConsumeBool():
        paths = field_paths(header)
        path = paths[provider.ConsumeIntInRange(0, len(paths) - 1)]
        choice = provider.ConsumeIntInRange(0, len(VALUES))
        value = VALUES[choice] if choice < len(VALUES) else provider.ConsumeUnicodeNoSurrogates(12)
        return rebuild(parts, set_path(header, path, value))
    chunks = [name for name in parts if name.startswith("chunks/")]
    name = chunks[provider.ConsumeIntInRange(0, len(chunks) - 1)]
    body = bytearray(parts[name])
    for _ in range(provider.ConsumeIntInRange(1, 8)):
        if body:
            body[provider.ConsumeIntInRange(0, len(body) - 1)] = provider.ConsumeIntInRange(0, 255)
    parts[name] = bytes(body)
    return rebuild(parts, header)


ISOLATED = "--isolated" in sys.argv
"""``--isolated``: decode as the commands do (a child process per input: slow, crashes of a codec library are
contained); without it the decoders run in-process so that library crashes are found."""


def test_one_input(data: bytes) -> None:
    """The atheris entry point: the crafted file decodes to something or refuses with CerebroError."""
    decode_file(crafted(data), FOLDER, isolated=ISOLATED)


def export(corpus: Path, target: Path) -> None:
    """Write the crafted .cbv file of every input in ``corpus`` to ``target`` (replayed by the suite)."""
    target.mkdir(parents=True, exist_ok=True)
    for source in sorted(corpus.iterdir()):
        (target / f"{source.name[:16]}.cbv").write_bytes(crafted(source.read_bytes()))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--export"]:
        export(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        atheris.Setup([a for a in sys.argv if a != "--isolated" and not a.startswith("--only=")], test_one_input)
        atheris.Fuzz()
