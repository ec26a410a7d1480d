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
