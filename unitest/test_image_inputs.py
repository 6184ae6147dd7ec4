"""Expanding command-line image arguments: files, directories, globs, problems."""

import os

from tfcaption.data.image_inputs import expand_image_inputs, images_in_directory


def _touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"x")
    return path


def _tree(root):
    for name in ("b.png", "a.JPG", "c.jpeg", "notes.txt", ".hidden.jpg", "sub/d.gif",
                 "sub/deeper/e.bmp", "other/f.jpg"):
        _touch(os.path.join(root, name))
    return str(root)


def test_directory_lists_its_images_sorted_and_not_recursive_by_default(tmp_path):
    root = _tree(tmp_path / "photos")
    files, problems = expand_image_inputs([root])
    assert problems == []
    assert [os.path.relpath(f, root) for f in files] == ["a.JPG", "b.png", "c.jpeg"]


def test_recursive_directory_takes_subdirectories_in_path_order(tmp_path):
    root = _tree(tmp_path / "photos")
    names = [os.path.relpath(f, root) for f in images_in_directory(root, recursive=True)]
    assert names == ["a.JPG", "b.png", "c.jpeg", os.path.join("other", "f.jpg"),
                     os.path.join("sub", "d.gif"), os.path.join("sub", "deeper", "e.bmp")]


def test_globs_expand_sorted_and_files_are_taken_whatever_their_extension(tmp_path):
    root = _tree(tmp_path / "photos")
    notes = os.path.join(root, "notes.txt")
    files, problems = expand_image_inputs([os.path.join(root, "*.[jp]*g"), notes,
                                           os.path.join(root, "**", "*.bmp")])
    assert problems == []
    # globs are case-sensitive, as in the shell: "*.[jp]*g" does not match "a.JPG"
    assert [os.path.relpath(f, root) for f in files] == [
        "b.png", "c.jpeg", "notes.txt", os.path.join("sub", "deeper", "e.bmp")]
    # a file given twice (directly and through a glob or directory) is listed once
    again, _ = expand_image_inputs([os.path.join(root, "b.png"), root])
    assert [os.path.basename(f) for f in again] == ["b.png", "a.JPG", "c.jpeg"]


def test_arguments_naming_nothing_are_problems_and_the_rest_still_expand(tmp_path):
    root = _tree(tmp_path / "photos")
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = str(tmp_path / "missing.jpg")
    files, problems = expand_image_inputs([missing, str(tmp_path / "nothing-*.png"),
                                           str(empty), os.path.join(root, "b.png")])
    assert [os.path.basename(f) for f in files] == ["b.png"]
    assert problems == [f"{missing}: no such file or directory",
                        f"{tmp_path / 'nothing-*.png'}: no image file matches this pattern",
                        f"{empty}: directory has no image files (.jpg, .jpeg, .png, .gif, .bmp)"]
