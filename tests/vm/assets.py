"""The test VM's kernel and initramfs, fetched and built once into a cache outside the repository.

The kernel is Debian bookworm's plain ``linux-image-6.1.0-<N>-amd64`` (the newest N apt
knows), unpacked with ``dpkg-deb -x``, never installed: its ``uname -r`` is ``6.1.0-<N>-amd64``.
The ``cloud-amd64`` flavour lacks 9p. The initramfs holds the host's static busybox, the
modules the boot needs (``modprobe --show-depends`` of virtio_pci, 9pnet_virtio, 9p, overlay
and virtio_net: virtio_ring, virtio, virtio_pci_modern_dev, virtio_pci_legacy_dev, netfs,
fscache, 9pnet, failover, net_failover), the two guest scripts, init.sh and stage2.sh, and
the units that boot systemd into the command (tests/vm/systemd/).

Layout, under ``$XDG_CACHE_HOME/airlock-vm`` (default ``~/.cache/airlock-vm``)::

    lock                              flock held while anything below is made
    <uname -r>/kernel/                the unpacked package (boot/vmlinuz-*, lib/modules/*)
    <uname -r>/vmlinux                the kernel taken out of vmlinuz, uncompressed
    <uname -r>/initramfs-<hash>.cpio  named by a hash of everything that goes into it

Everything is made under the lock, in a temporary name renamed into place: concurrent
callers wait for one another and a killed build leaves nothing half made.
"""

from __future__ import annotations

import fcntl
import hashlib
import lzma
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.vm.cpio import Archive

HERE = Path(__file__).parent

#: Debian's kernel packages of the 6.1 series, plain flavour (signed; -unsigned is the same).
KERNEL_PACKAGE = re.compile(r"linux-image-(6\.1\.0-\d+-amd64)")

#: Modules loaded at every boot, dependencies first (modprobe -a resolves them).
BOOT_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay")

#: Modules loaded only with the network on.
NET_MODULES = ("virtio_net",)

#: What init.sh installs into the guest's /etc/systemd/system when systemd is PID 1: the boot
#: target, the command's service, and the list of units it masks.
SYSTEMD_FILES = ("airlock-vm.target", "airlock-vm-command.service", "masked")

#: Bump when the initramfs's layout changes in a way its hashed inputs do not show.
_FORMAT = b"1"

QBOOT = Path("/usr/share/qemu/qboot.rom")
BUSYBOX = Path("/bin/busybox")

#: Binaries the harness runs on the host, and the Debian package that ships each.
_HOST_TOOLS = {
    "qemu-system-x86_64": "qemu-system-x86",
    "modprobe": "kmod",
    "depmod": "kmod",
    "dpkg-deb": "dpkg",
    "apt-get": "apt",
    "apt-cache": "apt",
}

# Non-root users have no sbin directories on PATH, where kmod's tools live.
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


class VMError(RuntimeError):
    """The test VM could not be prepared or could not run a command."""


class MissingPackages(VMError):
    """The host lacks Debian packages the harness needs; the message names them."""


@dataclass(frozen=True)
class Assets:
    """What boots the VM: a kernel, its modules and an initramfs."""

    kernel_version: str
    """``uname -r`` inside the guest, such as ``6.1.0-57-amd64``."""
    vmlinux: Path
    """The uncompressed kernel (an ELF file QEMU boots through its PVH entry point)."""
    modules: Path
    """The kernel's ``lib/modules/<version>``, mounted in the guest at the usual place."""
    initramfs: Path


def tool(name: str) -> str:
    """The absolute path of a host binary, found on PATH and in the sbin directories."""
    found = shutil.which(name, path=_SEARCH_PATH)
    if found is None:
        raise MissingPackages(_install_hint([_HOST_TOOLS[name]]))
    return found


def missing_packages() -> list[str]:
    """The Debian packages the harness needs and this host lacks (empty when it can run)."""
    missing = {package for name, package in _HOST_TOOLS.items() if shutil.which(name, path=_SEARCH_PATH) is None}
    if not QBOOT.is_file():
        missing.add("qemu-system-data")
    if not _is_static(BUSYBOX):
        missing.add("busybox-static")
    return sorted(missing)


def require_packages() -> None:
    """Raise MissingPackages naming what to install, if anything is missing."""
    missing = missing_packages()
    if missing:
        raise MissingPackages(_install_hint(missing))


def _install_hint(packages: list[str]) -> str:
    names = " ".join(packages)
    return f"the test VM needs the Debian packages {names}: apt-get install --no-install-recommends {names}"


def _is_static(path: Path) -> bool:
    """Whether an ELF file has no program interpreter (a dynamic busybox cannot run alone)."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    if data[:4] != b"\x7fELF" or data[4] != 2:  # ELFCLASS64, as on every amd64 host
        return False
    phoff = int.from_bytes(data[32:40], "little")
    phentsize = int.from_bytes(data[54:56], "little")
    phnum = int.from_bytes(data[56:58], "little")
    pt_interp = 3
    return all(
        int.from_bytes(data[phoff + i * phentsize : phoff + i * phentsize + 4], "little") != pt_interp
        for i in range(phnum)
    )


def cache_root() -> Path:
    """Where the kernels and initramfs images live: outside the repository, kept across runs."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "airlock-vm"


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with (root / "lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_assets(kernel_version: str | None = None) -> Assets:
    """The kernel, modules and initramfs, fetched and built on first use, then taken from the cache.

    ``kernel_version`` (``6.1.0-<N>-amd64``) pins a kernel; by default the newest apt knows,
    or the newest in the cache when apt knows none.
    """
    require_packages()
    root = cache_root()
    version = kernel_version or _newest_kernel(root)
    with _locked(root):
        kernel = _ensure_kernel(root / version, version)
        modules = kernel / "lib" / "modules" / version
        vmlinux = _ensure_vmlinux(root / version, kernel / "boot" / f"vmlinuz-{version}")
        initramfs = _ensure_initramfs(root / version, modules, version)
    return Assets(
        kernel_version=version,
        vmlinux=vmlinux,
        modules=modules,
        initramfs=initramfs,
    )


def _run(argv: list[str], cwd: str | None = None) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        raise VMError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def _newest_kernel(root: Path) -> str:
    names = _run([tool("apt-cache"), "pkgnames", "linux-image-6.1.0-"]).split()
    versions = [m.group(1) for name in names if (m := KERNEL_PACKAGE.fullmatch(name))]
    if not versions and root.is_dir():
        versions = [p.name for p in root.iterdir() if KERNEL_PACKAGE.fullmatch(f"linux-image-{p.name}")]
    if not versions:
        raise VMError("apt knows no linux-image-6.1.0-<N>-amd64 package: run apt-get update (Debian bookworm)")
    return max(versions, key=lambda v: int(v.split("-")[1]))


def _ensure_kernel(directory: Path, version: str) -> Path:
    kernel = directory / "kernel"
    if kernel.is_dir():
        return kernel
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".fetch-") as tmp:
        _run([tool("apt-get"), "download", "-q", f"linux-image-{version}"], cwd=tmp)
        (deb,) = Path(tmp).glob("*.deb")
        unpacked = Path(tmp) / "kernel"
        _run([tool("dpkg-deb"), "-x", str(deb), str(unpacked)])
        # The package ships no modules.dep (the postinst makes it): modprobe needs one.
        _run([tool("depmod"), "-b", str(unpacked), version])
        unpacked.rename(kernel)
    return kernel


def _ensure_vmlinux(directory: Path, vmlinuz: Path) -> Path:
    """The kernel uncompressed, taken out of the bzImage once.

    Booting the bzImage spends ~3 s of every boot unpacking its xz payload under emulation;
    Debian's kernels have CONFIG_PVH, so QEMU boots the uncompressed ELF directly.
    """
    vmlinux = directory / "vmlinux"
    if vmlinux.exists():
        return vmlinux
    image = vmlinuz.read_bytes()
    # The x86 boot protocol (2.08+): the payload's offset after the setup sectors, its length.
    setup_sectors = image[0x1F1] or 4
    offset = int.from_bytes(image[0x248:0x24C], "little") + (setup_sectors + 1) * 512
    length = int.from_bytes(image[0x24C:0x250], "little")
    payload = image[offset : offset + length]
    if not payload.startswith(b"\xfd7zXZ\x00"):
        raise VMError(f"{vmlinuz}: the kernel's payload is not xz-compressed (CONFIG_KERNEL_XZ, Debian's choice)")
    elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload)
    partial = vmlinux.with_suffix(".partial")
    partial.write_bytes(elf)
    partial.rename(vmlinux)
    return vmlinux


def _module_files(modules: Path, version: str, names: tuple[str, ...]) -> list[Path]:
    """The .ko files of ``names`` and their dependencies, per the kernel's modules.dep."""
    out = _run([tool("modprobe"), "-d", str(modules.parents[2]), "-S", version, "--show-depends", "-a", *names])
    files: list[Path] = []
    for line in out.splitlines():
        # "insmod /path/x.ko [params]"; "builtin x" needs nothing.
        if line.startswith("insmod ") and (path := Path(line.split()[1])) not in files:
            files.append(path)
    return files


def _ensure_initramfs(directory: Path, modules: Path, version: str) -> Path:
    files = _module_files(modules, version, BOOT_MODULES + NET_MODULES)
    archive = Archive()
    for name in ("bin", "dev", "etc", "proc", "sys", "newroot"):
        archive.directory(name)
    archive.char_device("dev/console", major=5, minor=1)
    archive.file("bin/busybox", BUSYBOX.read_bytes(), mode=0o755)
    archive.symlink("bin/sh", "busybox")
    archive.file("init", (HERE / "init.sh").read_bytes(), mode=0o755)
    archive.file("stage2.sh", (HERE / "stage2.sh").read_bytes(), mode=0o755)
    archive.file("etc/modules-boot", " ".join(BOOT_MODULES).encode())
    for unit in SYSTEMD_FILES:
        archive.file(f"systemd/{unit}", (HERE / "systemd" / unit).read_bytes())
    # A subset tree with its own modules.* files, so busybox modprobe resolves dependencies.
    inside = f"lib/modules/{version}"
    for path in files:
        archive.file(f"{inside}/{path.relative_to(modules)}", path.read_bytes())
    archive.file(f"{inside}/modules.dep", _subset_dep(modules / "modules.dep", files, modules))
    data = archive.finish()
    digest = hashlib.sha256(_FORMAT + data).hexdigest()[:16]
    target = directory / f"initramfs-{digest}.cpio"
    if not target.exists():
        partial = target.with_suffix(".partial")
        partial.write_bytes(data)
        partial.rename(target)
    return target


def _subset_dep(dep: Path, files: list[Path], modules: Path) -> bytes:
    """The lines of modules.dep for the modules in the initramfs (their dependencies are too)."""
    kept = {str(p.relative_to(modules)) for p in files}
    lines = [line for line in dep.read_text().splitlines() if line.split(":", 1)[0] in kept]
    return ("\n".join(lines) + "\n").encode()
