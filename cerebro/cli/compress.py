"""Sub-commands ``compress``, ``decompress``, ``info`` and ``codecs`` (the .cbv compressed-volume file)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from cerebro.cbv.compress import compress_volume
from cerebro.cbv.compressed import MB
from cerebro.cbv.container import SUFFIX, read_compressed, read_header, write_compressed
from cerebro.cbv.isolated import decompress_isolated
from cerebro.cbv.roundtrip import round_trip
from cerebro.cli._common import add_progress_format, command_progress, print_json, print_json_line, printable
from cerebro.codecs.base import Codec, Setting, available_codecs, get_codec
from cerebro.codecs.setting import CodecSetting, assignments, format_value
from cerebro.errors import CerebroError
from cerebro.fsutil import check_outputs, require_input_file, require_output_suffix
from cerebro.io import VOLUME_SUFFIXES, read_volume, write_volume

# Volumes with at least this many voxels get a progress bar (about 200^3).
PROGRESS_MIN_VOXELS = 8_000_000
_FIXED_OPTIONS = {"codec", "mode", "set", "setting", "workers", "report", "json", "quiet", "help", "decoded",
                  "progress_format"}

_COMPRESS_EPILOG = f"""examples:
  cerebro compress cta.nii.gz cta.cbv --codec zfp --mode accuracy --tolerance 5
      every voxel within 5 HU of the original (integer images: within floor(tolerance))
  cerebro compress cta.nii.gz cta.cbv --mode rate --rate 4 --report
      4 bits per value; then decode again and print PSNR, SSIM, errors and speed
  cerebro compress tof.nrrd tof.cbv --mode reversible --json
      lossless; machine-readable summary on stdout
  cerebro compress cta.nii.gz cta.cbv --mode rate --rate 2 --decoded cta_decoded.nii.gz
      the report, and the decoded volume written beside it (to look at the error)
  cerebro compress in.mha out.cbv --codec zfp --mode precision --set precision=14
  cerebro compress in.mha out.cbv --setting zfp:accuracy:tolerance=50
      the whole setting as `cerebro benchmark run --setting` and the result tables write it

Settings can be given as --NAME VALUE, --set NAME=VALUE, or with codec and mode as --setting
CODEC:MODE[:NAME=VALUE,...]; `cerebro codecs` lists every codec, mode and setting with its valid range.
The output must end with {SUFFIX}; it is written atomically and never replaces the input.
Inputs: NIfTI, NRRD, MetaImage or a DICOM folder.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the compress, decompress, info and codecs sub-commands."""
    codecs = available_codecs()
    compress = subparsers.add_parser(
        "compress", help="compress a volume file into a .cbv file",
        description="Compress a 3D volume (NIfTI, NRRD, MetaImage, DICOM folder) into a self-describing "
        f"{SUFFIX} file that keeps voxel type and geometry.",
        epilog=_COMPRESS_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    compress.add_argument("input", metavar="IN", help="volume file or DICOM folder to compress")
    compress.add_argument("output", metavar="OUT", help=f"compressed file to write (must end with {SUFFIX})")
    compress.add_argument("--codec", help="compressor: " + ", ".join(sorted(codecs)) + " (default: zfp)")
    compress.add_argument("--mode", help="codec mode, e.g. for zfp: " + ", ".join(codecs["zfp"].modes)
                          if "zfp" in codecs else "codec mode")
    for name, help_text in _setting_options(codecs).items():
        compress.add_argument(f"--{name.replace('_', '-')}", dest=f"setting__{name}", metavar="VALUE",
                              help=help_text)
    compress.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                          help="any codec setting by name (repeatable)")
    compress.add_argument("--setting", metavar="CODEC:MODE[:NAME=VALUE,...]",
                          help="codec, mode and settings in one (instead of --codec, --mode and the settings), "
                          "e.g. zfp:accuracy:tolerance=50")
    _add_common(compress, workers=True)
    compress.add_argument("--report", action="store_true",
                          help="decode the written file again and print the round-trip report "
                          "(ratio, bits/voxel, PSNR, SSIM, max error, RMSE, speed)")
    compress.add_argument("--decoded", metavar="VOLUME",
                          help="also write the decoded volume to this file (implies --report)")
    add_progress_format(compress)
    compress.set_defaults(func=run_compress)

    decomp = subparsers.add_parser(
        "decompress", help="decompress a .cbv file into a volume file",
        description=f"Decode a {SUFFIX} file back into a volume with the original voxel type and geometry.",
        epilog="example:\n  cerebro decompress cta.cbv cta_decoded.nii.gz",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    decomp.add_argument("input", metavar="IN", help=f"{SUFFIX} file")
    decomp.add_argument("output", metavar="OUT", help="volume file to write: " + ", ".join(VOLUME_SUFFIXES))
    _add_common(decomp, workers=True)
    add_progress_format(decomp)
    decomp.set_defaults(func=run_decompress)

    info = subparsers.add_parser("info", help="show what a .cbv file holds",
                                 description=f"Print the header of a {SUFFIX} file: codec, settings, voxel "
                                 "type, shape, geometry, sizes and versions.")
    info.add_argument("file", metavar="FILE", help=f"{SUFFIX} file")
    info.add_argument("--verify", action="store_true", help="also read every chunk, check its SHA-256 and decode it")
    info.add_argument("--json", action="store_true", help="print the full header as JSON")
    info.set_defaults(func=run_info)

    listing = subparsers.add_parser("codecs", help="list codecs, their modes and settings with valid ranges",
                                    description="List the available codecs, their modes and the valid range "
                                    "of every setting.")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=run_codecs)


def _add_common(parser: argparse.ArgumentParser, workers: bool) -> None:
    if workers:
        parser.add_argument("--workers", type=int, default=0, metavar="N",
                            help="processes for chunked codecs (default 0 = all cores; 1 = in this process)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout (for scripts)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _setting_options(codecs: dict[str, Codec]) -> dict[str, str]:
    """One ``--NAME`` option per distinct setting name over all codecs, with whom it applies to."""
    options: dict[str, list[str]] = {}
    for codec in codecs.values():
        for mode in codec.modes.values():
            for spec in mode.settings:
                if spec.name not in _FIXED_OPTIONS:
                    options.setdefault(spec.name, []).append(f"{codec.name}/{mode.name}: {_describe(spec)}")
    return {name: "; ".join(uses) for name, uses in options.items()}


def _describe(spec: Setting) -> str:
    if spec.choices:
        valid = "one of " + ", ".join(map(str, spec.choices))
    else:
        valid = f"{spec.minimum:g} to {spec.maximum:g}" if spec.minimum is not None and spec.maximum is not None \
            else f">= {spec.minimum:g}" if spec.minimum is not None else "any"
    unit = f" {spec.unit}" if spec.unit else ""
    default = f", default {spec.default}" if spec.default is not None else ""
    return f"{spec.help} ({valid}{unit}{default})".replace("%", "%%")


def _chosen_setting(args: argparse.Namespace) -> CodecSetting:
    """The codec setting the options name: ``--setting TEXT``, or ``--codec`` (zfp), ``--mode`` and the settings."""
    given = {key.split("__", 1)[1]: value for key, value in vars(args).items()
             if key.startswith("setting__") and value is not None}
    given.update(assignments(args.set, "--set"))
    if args.setting is not None:
        if args.codec or args.mode or given:
            raise CerebroError("--setting names the codec, mode and settings already; leave out --codec, --mode "
                               "and the other settings")
        return CodecSetting.parse(args.setting)
    codec = get_codec(args.codec or "zfp")
    if not args.mode:
        raise CerebroError(f"choose a mode with --mode; {codec.name} has: {', '.join(codec.modes)}")
    return CodecSetting.of(codec, args.mode, given)


def run_compress(args: argparse.Namespace) -> int:
    """``cerebro compress IN OUT ...``"""
    require_output_suffix(args.output, (SUFFIX,), "output")
    require_input_file(args.input, "input volume")
    if args.decoded:
        require_output_suffix(args.decoded, VOLUME_SUFFIXES, "--decoded")
        args.report = True
    check_outputs([args.input], [args.output, *([args.decoded] if args.decoded else [])])
    setting = _chosen_setting(args)
    volume = read_volume(args.input)
    show = not args.quiet and volume.array.size >= PROGRESS_MIN_VOXELS
    with command_progress(f"compress {Path(args.input).name}", args.progress_format, enabled=show) as progress:
        if args.report:
            decoded, report, compressed = round_trip(volume, setting, progress=progress, workers=args.workers,
                                                     path=args.output)
            if args.decoded:
                _write_volume(decoded, args.decoded)
        else:
            compressed = compress_volume(volume, setting, progress=progress, workers=args.workers)
            _write(compressed, args.output)
    size = Path(args.output).stat().st_size
    if args.report:
        if args.progress_format == "json":
            print_json_line({"result": {"output": str(args.output), "decoded": args.decoded, **report.as_dict()}})
        elif args.json:
            print_json({"output": str(args.output), **report.as_dict()})
        else:
            print(f"wrote {args.output}\n{report.to_text()}")
        return 0
    summary = {
        "output": str(args.output), "codec": setting.codec, "mode": setting.mode,
        "settings": compressed.encoded.settings,
        "dtype": compressed.dtype, "shape": list(compressed.shape), "original_nbytes": compressed.original_nbytes,
        "file_nbytes": size, "compression_ratio": compressed.original_nbytes / size,
        "bits_per_voxel": 8.0 * size / compressed.voxel_count, "encode_seconds": compressed.encode_seconds,
        "error_bound": compressed.encoded.meta.get("error_bound"),
    }
    if args.progress_format == "json":
        print_json_line({"result": summary})
    elif args.json:
        print_json(summary)
    else:
        print(f"wrote {args.output}: {compressed.original_nbytes / MB:.2f} MB -> {size / MB:.3f} MB on disk "
              f"(ratio {summary['compression_ratio']:.2f}:1, {summary['bits_per_voxel']:.3f} bits/voxel) "
              f"in {compressed.encode_seconds:.2f} s; error bound: {summary['error_bound']}")
    return 0


def _write(compressed: Any, output: str) -> None:
    try:
        write_compressed(compressed, output)
    except OSError as exc:
        raise CerebroError(f"cannot write {output}: {exc.strerror or exc}; check the folder and permissions") \
            from None


def run_decompress(args: argparse.Namespace) -> int:
    """``cerebro decompress IN.cbv OUT``"""
    require_output_suffix(args.output, VOLUME_SUFFIXES, "output")
    check_outputs([args.input], [args.output])
    compressed = read_compressed(args.input)
    show = not args.quiet and compressed.voxel_count >= PROGRESS_MIN_VOXELS
    with command_progress(f"decompress {Path(args.input).name}", args.progress_format, enabled=show) as progress:
        volume = decompress_isolated(compressed, progress, args.workers)
    _write_volume(volume, args.output)
    summary = {"output": str(args.output), "dtype": volume.dtype.name, "shape": list(volume.shape),
               "spacing": list(volume.spacing), "origin": list(volume.origin)}
    if args.progress_format == "json":
        print_json_line({"result": summary})
    elif args.json:
        print_json(summary)
    else:
        print(f"wrote {args.output}: {'x'.join(map(str, volume.shape))} {volume.dtype.name}")
    return 0


def _write_volume(volume: Any, output: str) -> None:
    try:
        write_volume(volume, output)
    except (OSError, RuntimeError) as exc:
        detail = str(exc).strip().splitlines()[-1][:160] if str(exc).strip() else type(exc).__name__
        raise CerebroError(f"cannot write {output}: {detail}; check the folder and permissions") from None


def run_info(args: argparse.Namespace) -> int:
    """``cerebro info FILE.cbv``"""
    header = read_header(args.file)
    if args.verify:
        decompress_isolated(read_compressed(args.file), workers=1)
    size = Path(args.file).stat().st_size
    if args.json:
        print_json({"file_nbytes": size, "verified": bool(args.verify), "header": header})
        return 0
    library = header.get("codec_meta", {}).get("library", {})
    voxels = math.prod(header["shape"])
    rows = [
        ("file", f"{args.file} ({size / MB:.3f} MB)"),
        ("format", f"{header['format']} version {header['format_version']} (cerebro {header.get('cerebro_version')})"),
        ("codec", f"{header['codec']} / {header['mode']} "
                  + " ".join(f"{k}={format_value(v)}" for k, v in header.get("settings", {}).items())),
        ("library", f"{library.get('name', '?')} {library.get('version', '?')}" if library else "n/a"),
        ("error bound", str(header.get("codec_meta", {}).get("error_bound", "not stated"))),
        ("volume", f"{'x'.join(map(str, header['shape']))} (k, j, i) {header['dtype']}"),
        ("spacing", " x ".join(f"{v:g}" for v in header["spacing"]) + " mm (i, j, k)"),
        ("origin", ", ".join(f"{v:g}" for v in header["origin"]) + " mm (LPS)"),
        ("direction", " ".join(f"{v:.4g}" for v in header["direction"]) + " (row-major, columns = i, j, k)"),
        ("size", f"{header['original_nbytes'] / MB:.2f} MB native -> {size / MB:.3f} MB "
                 f"(ratio {header['original_nbytes'] / size:.2f}:1, {8.0 * size / voxels:.3f} bits/voxel)"),
        ("chunks", str(len(header.get("chunks", [])))),
        ("created", str(header.get("created_utc", "?"))),
    ]
    if args.verify:
        rows.append(("checksums", "header and all chunks intact (SHA-256 verified), decodes to the declared volume"
                     if header["format_version"] >= 2 else "all chunks intact (SHA-256 verified), decodes to the "
                     "declared volume; the header has no digest (format version 1)"))
    width = max(len(name) for name, _ in rows)
    print("\n".join(f"{name:<{width}}  {printable(value)}" for name, value in rows))
    return 0


def run_codecs(args: argparse.Namespace) -> int:
    """``cerebro codecs``"""
    codecs = available_codecs()
    if args.json:
        print_json({name: {"description": codec.description, "modes": {
            mode.name: {"lossless": mode.lossless, "help": mode.help, "settings": [
                {"name": s.name, "type": s.kind.__name__, "minimum": s.minimum, "maximum": s.maximum,
                 "choices": list(s.choices), "default": s.default, "unit": s.unit, "help": s.help}
                for s in mode.settings]} for mode in codec.modes.values()}} for name, codec in codecs.items()})
        return 0
    for name, codec in codecs.items():
        print(f"{name}: {codec.description}")
        for mode in codec.modes.values():
            print(f"  --mode {mode.name}{' (lossless)' if mode.lossless else ''}: {mode.help}")
            for spec in mode.settings:
                print(f"      --{spec.name.replace('_', '-')}: {_describe(spec).replace('%%', '%')}")
    return 0
