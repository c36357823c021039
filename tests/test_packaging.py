"""The built wheel maps core/ vision/ text/ tabular/ into the perspicio namespace."""

import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installs_and_imports_outside_the_repo(tmp_path):
    pytest.importorskip("setuptools")
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(ROOT),
        ],
        check=True,
    )
    wheels = list(dist.glob("perspicio-*.whl"))
    assert len(wheels) == 1
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    py = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # Reuse the torch (and friends) already installed here instead of downloading them.
    # A path added by a .pth file is not scanned for .pth files, so the editable
    # perspicio of this environment stays invisible to the new one.
    Path(site, "reuse.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(py),
            "install",
            "--no-deps",
            "-q",
            str(wheels[0]),
        ],
        check=True,
    )
    code = textwrap.dedent(
        """
        import perspicio, perspicio.core as core
        from perspicio import vision, text, tabular
        from perspicio.core import IntegratedGradients, DeepLift, NoiseTunnel
        print(core.__file__)
        """
    )
    out = subprocess.run(
        [str(py), "-c", code],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    ).stdout.strip()
    assert out.startswith(site), out
    # type checkers see perspicio's hints (PEP 561 markers in every package)
    for package in ("perspicio", "core", "vision", "text", "tabular"):
        assert Path(
            site, "perspicio", "" if package == "perspicio" else package, "py.typed"
        ).exists(), package
