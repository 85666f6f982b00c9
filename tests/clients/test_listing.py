"""`ls -l`, `find` and stat over the tree: names and sizes as the bucket holds them."""

from __future__ import annotations

import subprocess

from clientenv import PREFIX_FILE_COUNT, PREFIX_KEY


def expected_prefix_files(client_env) -> dict[str, int]:
    prefix = PREFIX_KEY + "/"
    files = {key[len(prefix) :]: size for key, (size, _) in client_env.manifest.items() if key.startswith(prefix)}
    assert len(files) == PREFIX_FILE_COUNT, (
        f"MANIFEST.tsv: expected {PREFIX_FILE_COUNT} files under {prefix}, got {len(files)}"
    )
    return files


def run(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{' '.join(command)}: expected exit 0, got {result.returncode}: {result.stderr}"
    return result.stdout


def test_ls_l_lists_prefix_with_sizes(client_env, standin):
    expected = expected_prefix_files(client_env)
    out = run("ls", "-ln", "--time-style=+%s", str(client_env.path(PREFIX_KEY)))
    got = {}
    for line in out.splitlines():
        if line.startswith("total"):
            continue
        mode, _links, _uid, _gid, size, _mtime, name = line.split(None, 6)
        assert mode.startswith("-r"), f"{name}: expected a readable regular file, got mode {mode}"
        got[name] = int(size)
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    wrong = {n: (expected[n], got[n]) for n in expected.keys() & got.keys() if expected[n] != got[n]}
    assert not missing and not extra and not wrong, (
        f"ls -l {PREFIX_KEY}: missing {missing[:5]} ({len(missing)}), extra {extra[:5]} ({len(extra)}), "
        f"wrong sizes (expected, got) {dict(list(wrong.items())[:5])} ({len(wrong)})"
    )
    # 360 keys fit one ListObjectsV2 page; attributes come with the listing (no HEAD, no GET).
    standin.assert_at_most("ls -l over 360 files", list=4, head=2, get=0, bytes_fetched=0)


def test_find_lists_prefix_with_sizes(client_env, standin):
    expected = expected_prefix_files(client_env)
    out = run("find", str(client_env.path(PREFIX_KEY)), "-type", "f", "-printf", "%s\t%P\n")
    got = {}
    for line in out.splitlines():
        size, name = line.split("\t", 1)
        got[name] = int(size)
    assert got == expected, (
        f"find: expected {len(expected)} files with manifest sizes, got {len(got)}; "
        f"first differences: {sorted(set(expected.items()) ^ set(got.items()))[:5]}"
    )
    standin.assert_at_most("find over 360 files", list=4, head=2, get=0, bytes_fetched=0)


def test_every_generated_key_has_its_size(client_env, standin):
    wrong = {}
    for key, (size, _) in client_env.manifest.items():
        path = client_env.path(key)
        got = path.stat().st_size if path.exists() else None
        if got != size:
            wrong[key] = (size, got)
    assert not wrong, f"stat sizes (expected, got): {dict(list(wrong.items())[:5])} ({len(wrong)} wrong)"
    standin.assert_at_most("stat of every key", get=0, bytes_fetched=0)


def test_view_and_bucket_path_agree_on_sizes(client_env, standin):
    """`ls -l` of the seed view and of the bucket paths its files come from give the same sizes."""
    import os

    import pytest

    from clientenv import DRZ2_KEY, DRZ_KEY, env_flag

    view = os.environ.get("MASTFS_TEST_VIEW")
    if not view:
        if env_flag("MASTFS_REQUIRE_TOOLS"):
            pytest.fail("MASTFS_TEST_VIEW is not set (scripts/client-tests.sh sets it to the seed view)")
        pytest.skip("MASTFS_TEST_VIEW is not set")
    out = run("ls", "-ln", view)
    sizes = {}
    for line in out.splitlines():
        if line.startswith("total"):
            continue
        fields = line.split(None, 8)
        sizes[fields[8]] = int(fields[4])
    for key in (DRZ_KEY, DRZ2_KEY):
        name = key.rsplit("/", 1)[1]
        bucket_size = os.stat(client_env.path(key)).st_size
        assert sizes.get(name) == bucket_size, f"{name}: view says {sizes.get(name)}, bucket path says {bucket_size}"
        assert bucket_size == client_env.manifest[key][0], f"{key}: expected the generated size"
        xattr = os.getxattr(os.path.join(view, name), "user.mast.s3_uri").decode()
        assert xattr == f"s3://stpubdata/{key}", f"{name}: user.mast.s3_uri is {xattr}"
    standin.assert_at_most("ls -l of a view and stat of its bucket paths", get=0, bytes_fetched=0)
