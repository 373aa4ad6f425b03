#!/usr/bin/env bash
# Puts a dataset into datasets/NAME as trainA/ trainB/ testA/ testB/ (A = adverse, e.g. night; B = day).
#   bash datasets/download_dataset.sh daynight
# daynight comes from, in order: $DATASETS_MIRROR/daynight, ../shared/datasets/daynight next to the
# repository, or the public Udacity CVND_Exercises repository (git needed). bdd100k and alderley
# need a registration, so this script only explains how to lay them out.
set -euo pipefail

NAMES="daynight bdd100k alderley"
FOLDERS="trainA trainB testA testB"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"

usage() {
    echo "usage: bash datasets/download_dataset.sh NAME   (NAME: ${NAMES// /, })" >&2
    exit 1
}

[ $# -eq 1 ] || usage
name="$1"
dest="$here/$name"

count() { find "$1" -maxdepth 1 -type f ! -name '.*' | wc -l | tr -d ' '; }

complete() {
    local d
    for d in $FOLDERS; do
        [ -d "$dest/$d" ] && [ "$(count "$dest/$d")" -gt 0 ] || return 1
    done
}

summary() {
    local d line=""
    for d in $FOLDERS; do line="$line $d $(count "$dest/$d"),"; done
    echo "$name ready in $dest:${line%,}"
}

layout_help() {
    cat >&2 <<EOF
Then lay it out as:
  $dest/trainA/   $1 training images
  $dest/trainB/   $2 training images
  $dest/testA/    $1 test images
  $dest/testB/    $2 test images
and train with: python train.py --dataroot $dest
EOF
}

case "$name" in
    daynight) ;;
    bdd100k)
        cat >&2 <<EOF
BDD100K needs a free registration: download the 100k images and their labels (the 2018 label
release, bdd100k_labels_release.zip) from https://bdd-data.berkeley.edu/, unpack them so that one
folder holds images/100k/{train,val} and labels/, then build the dataset (links to the images;
--copy copies them) with:
  python $root/scripts/prepare_bdd100k.py --bdd_root /path/to/bdd100k --out $dest
(labels kept elsewhere: add --labels_dir /path/to/labels; details in docs/datasets.md). It splits
by the 'timeofday' attribute of each image in the label json: 'night' -> A, 'daytime' -> B (train
split -> train*, val split -> test*), and prints the counts next to the published ones. Or split by hand.
EOF
        layout_help night day
        exit 1 ;;
    alderley)
        cat >&2 <<EOF
The Alderley day/night set needs a registration: get it from
https://wiki.qut.edu.au/pages/viewpage.action?pageId=181178395 (rainy night frames -> A, day frames -> B),
unpack the two frame folders (FRAMESA: rainy night, FRAMESB: day) into one folder, then build the
dataset (first 4/5 of each sequence to train*, the rest to test*; --copy copies) with:
  python $root/scripts/prepare_alderley.py --alderley_root /path/to/alderley --out $dest
(other folder names: --night_dir, --day_dir; details in docs/datasets.md). Or split by hand.
EOF
        layout_help "rainy night" day
        exit 1 ;;
    *)
        echo "error: unknown dataset '$name': available names are ${NAMES// /, }" >&2
        exit 1 ;;
esac

if complete; then
    echo "datasets/$name already present, nothing to do"
    summary
    exit 0
fi

# Build in a scratch folder next to the destination, then move in, so an interrupted run leaves no half dataset.
tmp="$(mktemp -d "$here/.$name.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

copy_files() {  # copy_files SRC_DIR DST_DIR: the regular files of SRC_DIR (links followed), no subfolders
    [ -d "$1" ] || { echo "error: $1 is missing: the source of $name is incomplete" >&2; exit 1; }
    mkdir -p "$2"
    find -L "$1" -maxdepth 1 -type f ! -name '.*' -exec sh -c 'cp -L "$@" "$0"' "$2" {} +
}

if [ -n "${DATASETS_MIRROR:-}" ]; then
    src="$DATASETS_MIRROR/$name"
    [ -d "$src" ] || { echo "error: DATASETS_MIRROR=$DATASETS_MIRROR has no $name/ folder: fix or unset DATASETS_MIRROR" >&2; exit 1; }
    echo "copying $name from $src"
    for d in $FOLDERS; do copy_files "$src/$d" "$tmp/$d"; done
elif [ -d "$root/../shared/datasets/$name" ]; then
    src="$(cd "$root/../shared/datasets/$name" && pwd)"
    echo "copying $name from $src"
    for d in $FOLDERS; do copy_files "$src/$d" "$tmp/$d"; done
else
    command -v git >/dev/null || { echo "error: git is needed to download $name: install git, or set DATASETS_MIRROR to a folder holding $name/" >&2; exit 1; }
    echo "downloading $name from github.com/udacity/CVND_Exercises (about 30 MB)"
    git clone -q --depth 1 --filter=blob:none --sparse https://github.com/udacity/CVND_Exercises.git "$tmp/repo"
    git -C "$tmp/repo" sparse-checkout set 1_1_Image_Representation
    src="$(find "$tmp/repo" -type d -name day_night_images -print -quit)"
    [ -n "$src" ] || { echo "error: no day_night_images folder in the CVND_Exercises checkout: the upstream layout changed; set DATASETS_MIRROR instead" >&2; exit 1; }
    for split in training:train test:test; do
        copy_files "$src/${split%%:*}/night" "$tmp/${split##*:}A"
        copy_files "$src/${split%%:*}/day" "$tmp/${split##*:}B"
    done
fi

mkdir -p "$dest"
for d in $FOLDERS; do
    rm -rf "${dest:?}/$d"
    mv "$tmp/$d" "$dest/$d"
done
complete || { echo "error: $dest is missing images after copying: check the source" >&2; exit 1; }
summary
