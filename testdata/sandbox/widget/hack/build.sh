#!/bin/sh
# Builds widget for every platform in KREL_PLATFORMS (os/arch, comma-separated), as krel stage
# runs it: binaries under _output/bin/<os>/<arch>/, one tarball per platform under
# _output/release-tars/. Reproducible: the same version and SOURCE_DATE_EPOCH give the same bytes.
set -eu
version="${KREL_VERSION:-v0.0.0-dev}"
platforms="${KREL_PLATFORMS:-linux/amd64}"
epoch="${SOURCE_DATE_EPOCH:-0}"
out=_output
rm -rf "$out"
mkdir -p "$out/release-tars"
for platform in $(echo "$platforms" | tr ',' ' '); do
    os="${platform%/*}"
    arch="${platform#*/}"
    bin="$out/bin/$os/$arch"
    mkdir -p "$bin"
    printf '#!/bin/sh\n# widget %s for %s/%s\nWIDGET_VERSION=%s\n' "$version" "$os" "$arch" "$version" > "$bin/widget"
    cat cmd/widget/main.sh >> "$bin/widget"
    chmod 0755 "$bin/widget"
    tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
        -C "$bin" -cf - widget | gzip -n > "$out/release-tars/widget-$os-$arch.tar.gz"
    echo "built widget $version for $os/$arch"
done

# Container images, as `make release` leaves them: one `docker save` archive per image under
# _output/release-images/<arch>/ for every linux platform, written without Docker (one layer,
# reproducible: fixed times and owners).
image() { # name arch file-to-ship...
    name="$1"; arch="$2"; shift 2
    work="$out/image-work/$name-$arch"
    rm -rf "$work"; mkdir -p "$work/rootfs" "$out/release-images/$arch"
    cp "$@" "$work/rootfs/"
    tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
        -C "$work/rootfs" -cf "$work/layer.tar" .
    layer=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
    created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
    printf '{"architecture":"%s","os":"linux","created":"%s","config":{"Entrypoint":["/%s"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
        "$arch" "$created" "$name" "$layer" > "$work/config.json"
    config=$(sha256sum "$work/config.json" | cut -d' ' -f1)
    mkdir -p "$work/archive/$layer"
    mv "$work/config.json" "$work/archive/$config.json"
    mv "$work/layer.tar" "$work/archive/$layer/layer.tar"
    printf '[{"Config":"%s.json","RepoTags":["registry.example/%s-%s:%s"],"Layers":["%s/layer.tar"]}]' \
        "$config" "$name" "$arch" "$version" "$layer" > "$work/archive/manifest.json"
    tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
        -C "$work/archive" -cf "$out/release-images/$arch/$name.tar" .
    echo "built image $name $version for linux/$arch"
}
for platform in $(echo "$platforms" | tr ',' ' '); do
    os="${platform%/*}"
    arch="${platform#*/}"
    [ "$os" = linux ] || continue
    image widget "$arch" "$out/bin/$os/$arch/widget"
    image widget-agent "$arch" README.md
done
rm -rf "$out/image-work"
