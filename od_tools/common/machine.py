"""The machine a figure was measured on: speed (int8 above all) depends on the CPU's instruction sets."""

from __future__ import annotations

import os
from pathlib import Path

# /proc/cpuinfo flags -> the names people know, for the instruction sets XNNPACK's kernels pick from.
_INSTRUCTION_SETS = (("avx2", "AVX2"), ("avx512f", "AVX-512"), ("avx512_vnni", "AVX512-VNNI"),
                     ("avx_vnni", "AVX-VNNI"), ("amx_int8", "AMX"))


def memory_gb() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def parse_cpuinfo(text: str) -> tuple[str, set[str]]:
    """/proc/cpuinfo's text -> (the first CPU's model name, its flags)."""
    lines = text.splitlines()
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    flags = next((set(line.split(":", 1)[1].split()) for line in lines if line.startswith("flags")), set())
    return (names[0] if names else "unknown CPU"), flags


def _cpuinfo() -> tuple[str, set[str]]:
    path = Path("/proc/cpuinfo")
    return parse_cpuinfo(path.read_text() if path.is_file() else "")


def named_instruction_sets(flags: set[str]) -> list[str]:
    return [name for flag, name in _INSTRUCTION_SETS if flag in flags]


def instruction_sets() -> list[str]:
    """The vector instruction sets of this CPU that int8 and float kernels use (AVX2, AVX-512, VNNI, AMX)."""
    return named_instruction_sets(_cpuinfo()[1])


def describe() -> str:
    """e.g. `AMD EPYC, 2 cores, 24 GB RAM, AVX2 AVX-512 AVX512-VNNI`."""
    name, _ = _cpuinfo()
    sets = " ".join(instruction_sets()) or "no AVX2"
    return f"{name}, {os.cpu_count()} cores, {memory_gb():.0f} GB RAM, {sets}"
