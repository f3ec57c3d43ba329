#!/usr/bin/env python3
"""Make TorchSharp's native library load on a libstdc++ older than GCC 13.

Usage: patch_glibcxx.py <input libLibTorchSharp.so> <output dir>

libLibTorchSharp.so (TorchSharp 0.107) records a version need GLIBCXX_3.4.32 on libstdc++.so.6
only for std::ios_base_library_init(), an empty function in GCC 13. When the system libstdc++ lacks
that version (Debian bookworm ships 3.4.30), this script writes into <output dir>:
  * libLibTorchSharp.so with that version need marked weak (VER_FLG_WEAK), so the dynamic loader no
    longer refuses it, and with a DT_NEEDED on libferry_glibcxx_compat.so ($ORIGIN is already in its
    RUNPATH), which defines the symbol;
  * libferry_glibcxx_compat.so, built from glibcxx_compat.c with gcc.
When the system libstdc++ already provides GLIBCXX_3.4.32 it writes nothing and prints "not-needed".
The input file (the NuGet cache) is never modified.
"""
import os
import shutil
import struct
import subprocess
import sys

VERSION = b"GLIBCXX_3.4.32"
COMPAT_NAME = "libferry_glibcxx_compat.so"
SHT_GNU_VERNEED = 0x6FFFFFFE
VER_FLG_WEAK = 0x2


def system_libstdcxx():
    out = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("libstdc++.so.6 ") and "x86-64" in line:
            return line.split("=>", 1)[1].strip()
    for candidate in ("/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6"):
        if os.path.exists(candidate):
            return candidate
    return None


def mark_version_need_weak(path, version):
    """Set VER_FLG_WEAK on the Vernaux entry naming `version`; returns True when one was found."""
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            raise SystemExit(f"{path}: not a little-endian 64-bit ELF file")
        e_shoff, = struct.unpack_from("<Q", data, 0x28)
        e_shentsize, e_shnum = struct.unpack_from("<HH", data, 0x3A)
        sections = []
        for i in range(e_shnum):
            base = e_shoff + i * e_shentsize
            sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info = struct.unpack_from("<IIQQQQII", data, base)
            sections.append((sh_type, sh_offset, sh_size, sh_link, sh_info))
        found = False
        for sh_type, offset, size, link, count in sections:
            if sh_type != SHT_GNU_VERNEED:
                continue
            strtab_offset = sections[link][1]
            need = offset
            for _ in range(count):
                vn_version, vn_cnt, vn_file, vn_aux, vn_next = struct.unpack_from("<HHIII", data, need)
                aux = need + vn_aux
                for _ in range(vn_cnt):
                    vna_hash, vna_flags, vna_other, vna_name, vna_next = struct.unpack_from("<IHHII", data, aux)
                    start = strtab_offset + vna_name
                    name = bytes(data[start:data.index(b"\0", start)])
                    if name == version:
                        struct.pack_into("<H", data, aux + 4, vna_flags | VER_FLG_WEAK)
                        found = True
                    if vna_next == 0:
                        break
                    aux += vna_next
                if vn_next == 0:
                    break
                need += vn_next
        if found:
            f.seek(0)
            f.write(data)
        return found


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    source, out_dir = sys.argv[1], sys.argv[2]
    libstdcxx = system_libstdcxx()
    if libstdcxx is None:
        print("not-needed (no system libstdc++.so.6 found)")
        return
    with open(libstdcxx, "rb") as f:
        if VERSION + b"\0" in f.read():
            print(f"not-needed ({libstdcxx} provides {VERSION.decode()})")
            return
    os.makedirs(out_dir, exist_ok=True)
    here = os.path.dirname(os.path.abspath(__file__))
    compat = os.path.join(out_dir, COMPAT_NAME)
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-Wl,-soname," + COMPAT_NAME, "-o", compat,
                    os.path.join(here, "glibcxx_compat.c")], check=True)
    target = os.path.join(out_dir, os.path.basename(source))
    temp = target + ".tmp"
    shutil.copyfile(source, temp)
    subprocess.run(["patchelf", "--add-needed", COMPAT_NAME, temp], check=True)
    if not mark_version_need_weak(temp, VERSION):
        os.remove(temp)
        raise SystemExit(f"{source}: no {VERSION.decode()} version need found; the TorchSharp version changed, revisit this fix")
    os.replace(temp, target)
    print(f"patched {target}")


if __name__ == "__main__":
    main()
