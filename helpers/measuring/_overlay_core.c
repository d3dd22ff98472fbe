/* The compiled inner loops of helpers.measuring.merge and helpers.measuring.dive_score.
 *
 * Why it exists (measured, benchmarks/reader.py): on a 34,000-entry image, stacking the layers
 * took 0.05 s and dive's score 0.04 s in Python, against a wall-time budget of 0.12 s for the
 * whole report.  These are the per-entry loops only, transcribed line for line from the Python
 * beside them, on the same Python dicts, sets and lists: the rare paths (removing a tree, a
 * layer with whiteouts in dive's score) stay in Python and are called from here.
 * tests/measuring/test_compiled_core.py holds the results equal to the Python's.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#ifndef SOURCE_CRC
#define SOURCE_CRC 0
#endif

/* path.rpartition("/")[0] */
static PyObject *parent_of(PyObject *path)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(path);
    Py_ssize_t slash = PyUnicode_FindChar(path, '/', 0, n, -1);
    if (slash == -2)
        return NULL;
    if (slash < 0)
        return PyUnicode_New(0, 0);
    return PyUnicode_Substring(path, 0, slash);
}

/* Overlay._link: register path under its parent, and every ancestor under its own. */
static int link_path(PyObject *children, PyObject *path)
{
    Py_INCREF(path);
    while (PyUnicode_GET_LENGTH(path)) {
        PyObject *parent = parent_of(path);
        if (!parent)
            goto fail;
        PyObject *siblings = PyDict_GetItemWithError(children, parent);
        if (!siblings) {
            if (PyErr_Occurred())
                goto fail_parent;
            PyObject *made = PySet_New(NULL);
            if (!made || PySet_Add(made, path) < 0 || PyDict_SetItem(children, parent, made) < 0) {
                Py_XDECREF(made);
                goto fail_parent;
            }
            Py_DECREF(made);
        } else {
            int has = PySet_Contains(siblings, path);
            if (has < 0)
                goto fail_parent;
            if (has) {
                Py_DECREF(parent);
                break;
            }
            if (PySet_Add(siblings, path) < 0)
                goto fail_parent;
        }
        Py_DECREF(path);
        path = parent;
        continue;
    fail_parent:
        Py_DECREF(parent);
        goto fail;
    }
    Py_DECREF(path);
    return 0;
fail:
    Py_DECREF(path);
    return -1;
}

static int equal(PyObject *a, PyObject *b)
{
    return a == b || PyUnicode_Compare(a, b) == 0;
}

/* add_entries(entries, layer, visible, children, refs, inode_size, inode_layer, records, remove_tree, names)
 * Overlay.apply's last loop: Overlay._add for each entry that is no whiteout or opaque marker.
 * `names`: ("file", "dir", "hardlink", "whiteout", "opaque", "shadowed"). */
static PyObject *add_entries(PyObject *module, PyObject *args)
{
    PyObject *entries, *layer, *visible, *children, *refs, *inode_size, *inode_layer, *records, *remove_tree, *names;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!O!O!O!OO!", &PyList_Type, &entries, &PyLong_Type, &layer, &PyDict_Type,
                          &visible, &PyDict_Type, &children, &PyList_Type, &refs, &PyList_Type, &inode_size,
                          &PyList_Type, &inode_layer, &PyDict_Type, &records, &remove_tree, &PyTuple_Type, &names))
        return NULL;
    if (PyTuple_GET_SIZE(names) != 6) {
        PyErr_SetString(PyExc_TypeError, "names must hold 6 strings");
        return NULL;
    }
    PyObject *FILE_ = PyTuple_GET_ITEM(names, 0), *DIR_ = PyTuple_GET_ITEM(names, 1),
             *HARDLINK = PyTuple_GET_ITEM(names, 2), *WHITEOUT = PyTuple_GET_ITEM(names, 3),
             *OPAQUE = PyTuple_GET_ITEM(names, 4), *SHADOWED = PyTuple_GET_ITEM(names, 5);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(entries); i++) {
        PyObject *entry = PyList_GET_ITEM(entries, i);
        if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 7) {
            PyErr_SetString(PyExc_TypeError, "an entry must be an Entry");
            return NULL;
        }
        PyObject *path = PyTuple_GET_ITEM(entry, 0), *kind = PyTuple_GET_ITEM(entry, 1),
                 *size = PyTuple_GET_ITEM(entry, 2), *link = PyTuple_GET_ITEM(entry, 6);
        if (!PyUnicode_Check(path) || !PyUnicode_Check(kind)) {
            PyErr_SetString(PyExc_TypeError, "an entry's path and kind must be str");
            return NULL;
        }
        if (equal(kind, WHITEOUT) || equal(kind, OPAQUE))
            continue;
        Py_INCREF(entry); /* a callback below could change the list */
        PyObject *existing = PyDict_GetItemWithError(visible, path);
        if (!existing && PyErr_Occurred())
            goto fail_entry;
        PyObject *called = NULL;
        if (equal(kind, DIR_)) {
            if (existing && !equal(PyTuple_GET_ITEM(existing, 0), DIR_))
                called = PyObject_CallFunctionObjArgs(remove_tree, path, layer, SHADOWED, Py_False, NULL);
        } else {
            int has = existing ? 1 : PyDict_Contains(children, path);
            if (has < 0)
                goto fail_entry;
            if (has)
                called = PyObject_CallFunctionObjArgs(remove_tree, path, layer, SHADOWED, NULL);
        }
        if (called) {
            Py_DECREF(called);
        } else if (PyErr_Occurred()) {
            goto fail_entry;
        }
        Py_ssize_t inode = -1;
        if (equal(kind, FILE_)) {
            inode = PyList_GET_SIZE(inode_size);
            if (PyList_Append(inode_size, size) < 0 || PyList_Append(inode_layer, layer) < 0)
                goto fail_entry;
            PyObject *zero = PyLong_FromLong(0);
            if (!zero || PyList_Append(refs, zero) < 0) {
                Py_XDECREF(zero);
                goto fail_entry;
            }
            Py_DECREF(zero);
        } else if (equal(kind, HARDLINK)) {
            PyObject *target = PyDict_GetItemWithError(visible, link);
            if (!target && PyErr_Occurred())
                goto fail_entry;
            if (target) {
                Py_ssize_t found = PyLong_AsSsize_t(PyTuple_GET_ITEM(target, 1));
                if (found == -1 && PyErr_Occurred())
                    goto fail_entry;
                if (found >= 0)
                    inode = found;
            }
        }
        PyObject *record;
        if (inode >= 0) {
            if (inode >= PyList_GET_SIZE(refs)) {
                PyErr_SetString(PyExc_IndexError, "an inode past the reference counts");
                goto fail_entry;
            }
            Py_ssize_t held = PyLong_AsSsize_t(PyList_GET_ITEM(refs, inode));
            PyObject *count = (held == -1 && PyErr_Occurred()) ? NULL : PyLong_FromSsize_t(held + 1);
            if (!count)
                goto fail_entry;
            PyList_SetItem(refs, inode, count); /* steals count */
            record = Py_BuildValue("(OnO)", kind, inode, layer);
        } else {
            PyObject *key = PyTuple_Pack(2, kind, layer), *fresh = Py_BuildValue("(OiO)", kind, -1, layer);
            PyObject *shared = (key && fresh) ? PyDict_SetDefault(records, key, fresh) : NULL;
            record = Py_XNewRef(shared);
            Py_XDECREF(key);
            Py_XDECREF(fresh);
        }
        if (!record)
            goto fail_entry;
        int stored = PyDict_SetItem(visible, path, record);
        Py_DECREF(record);
        if (stored < 0 || link_path(children, path) < 0)
            goto fail_entry;
        Py_DECREF(entry);
        continue;
    fail_entry:
        Py_DECREF(entry);
        return NULL;
    }
    Py_RETURN_NONE;
}

/* Whether `text` (ASCII) is at character `at` of `path` (any str: surrogates included, nothing encoded). */
static int text_at(PyObject *path, Py_ssize_t at, const char *text, Py_ssize_t n)
{
    int kind = PyUnicode_KIND(path);
    const void *data = PyUnicode_DATA(path);
    if (at + n > PyUnicode_GET_LENGTH(path))
        return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (PyUnicode_READ(kind, data, at + i) != (Py_UCS4)(unsigned char)text[i])
            return 0;
    return 1;
}

/* Whether a part of the path starts with ".wh..wh." (dive drops such paths: AUFS metadata, opaque markers). */
static int aufs_meta(PyObject *path)
{
    int kind = PyUnicode_KIND(path);
    const void *data = PyUnicode_DATA(path);
    Py_ssize_t n = PyUnicode_GET_LENGTH(path);
    for (Py_ssize_t i = 0; i + 8 <= n; i++)
        if ((i == 0 || PyUnicode_READ(kind, data, i - 1) == '/') && text_at(path, i, ".wh..wh.", 8))
            return 1;
    return 0;
}

/* Whether ".wh." is anywhere in the path. */
static int has_whiteout_prefix(PyObject *path)
{
    for (Py_ssize_t i = 0; i + 4 <= PyUnicode_GET_LENGTH(path); i++)
        if (text_at(path, i, ".wh.", 4))
            return 1;
    return 0;
}

/* dive_leaves(entries, whiteout_target) -> [(path, size, target or None)]: dive_score.dive_leaves. */
static PyObject *dive_leaves(PyObject *module, PyObject *args)
{
    PyObject *entries, *whiteout_target;
    if (!PyArg_ParseTuple(args, "O!O", &PyList_Type, &entries, &whiteout_target))
        return NULL;
    PyObject *sizes = PyDict_New(), *ancestors = PySet_New(NULL), *leaves = PyList_New(0);
    if (!sizes || !ancestors || !leaves)
        goto fail;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(entries); i++) {
        PyObject *entry = PyList_GET_ITEM(entries, i);
        if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 7 || !PyUnicode_Check(PyTuple_GET_ITEM(entry, 0))) {
            PyErr_SetString(PyExc_TypeError, "an entry must be an Entry");
            goto fail;
        }
        PyObject *path = PyTuple_GET_ITEM(entry, 0);
        if (!aufs_meta(path) && PyDict_SetItem(sizes, path, PyTuple_GET_ITEM(entry, 2)) < 0)
            goto fail;
    }
    Py_ssize_t position = 0;
    PyObject *path, *size;
    while (PyDict_Next(sizes, &position, &path, &size)) {
        PyObject *parent = parent_of(path);
        for (;;) {
            if (!parent)
                goto fail;
            int seen = PyUnicode_GET_LENGTH(parent) ? PySet_Contains(ancestors, parent) : 1;
            if (seen < 0 || (!seen && PySet_Add(ancestors, parent) < 0)) {
                Py_DECREF(parent);
                goto fail;
            }
            if (seen) {
                Py_DECREF(parent);
                break;
            }
            PyObject *next = parent_of(parent);
            Py_DECREF(parent);
            parent = next;
        }
    }
    position = 0;
    while (PyDict_Next(sizes, &position, &path, &size)) {
        int inner = PySet_Contains(ancestors, path);
        if (inner < 0)
            goto fail;
        if (inner)
            continue;
        PyObject *target = has_whiteout_prefix(path) ? PyObject_CallOneArg(whiteout_target, path) : Py_NewRef(Py_None);
        if (!target)
            goto fail;
        PyObject *leaf = PyTuple_Pack(3, path, size, target);
        Py_DECREF(target);
        if (!leaf || PyList_Append(leaves, leaf) < 0) {
            Py_XDECREF(leaf);
            goto fail;
        }
        Py_DECREF(leaf);
    }
    Py_DECREF(sizes);
    Py_DECREF(ancestors);
    return leaves;
fail:
    Py_XDECREF(sizes);
    Py_XDECREF(ancestors);
    Py_XDECREF(leaves);
    return NULL;
}

/* count_leaves(figures, leaves, never_seen): DiveScore.add's loop for a layer with no whiteout. */
static PyObject *count_leaves(PyObject *module, PyObject *args)
{
    PyObject *figures, *leaves, *never_seen;
    if (!PyArg_ParseTuple(args, "O!O!O", &PyDict_Type, &figures, &PyList_Type, &leaves, &never_seen))
        return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(leaves); i++) {
        PyObject *leaf = PyList_GET_ITEM(leaves, i);
        if (!PyTuple_Check(leaf) || PyTuple_GET_SIZE(leaf) != 3 || PyTuple_GET_ITEM(leaf, 2) != Py_None) {
            PyErr_SetString(PyExc_ValueError, "count_leaves takes leaves of no whiteout");
            return NULL;
        }
        PyObject *key = PyTuple_GET_ITEM(leaf, 0), *size = PyTuple_GET_ITEM(leaf, 1);
        PyObject *known = PyDict_GetItemWithError(figures, key);
        if (!known && PyErr_Occurred())
            return NULL;
        if (!known || known == never_seen) {
            if (PyDict_SetItem(figures, key, size) < 0)
                return NULL;
        } else if (PyLong_Check(known)) {
            PyObject *total = PyNumber_Add(known, size);
            int less = total ? PyObject_RichCompareBool(size, known, Py_LT) : -1;
            PyObject *pair = (total && less >= 0) ? Py_BuildValue("[OO]", total, less ? size : known) : NULL;
            Py_XDECREF(total);
            if (!pair || PyDict_SetItem(figures, key, pair) < 0) {
                Py_XDECREF(pair);
                return NULL;
            }
            Py_DECREF(pair);
        } else if (PyList_Check(known) && PyList_GET_SIZE(known) == 2) {
            PyObject *total = PyNumber_Add(PyList_GET_ITEM(known, 0), size);
            if (!total)
                return NULL;
            PyList_SetItem(known, 0, total);
            int less = PyObject_RichCompareBool(size, PyList_GET_ITEM(known, 1), Py_LT);
            if (less < 0)
                return NULL;
            if (less)
                PyList_SetItem(known, 1, Py_NewRef(size));
        } else {
            PyErr_SetString(PyExc_TypeError, "a figure must be an int or [cumulative, minimum]");
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"add_entries", add_entries, METH_VARARGS, "Overlay._add for each entry of a layer that is no whiteout"},
    {"dive_leaves", dive_leaves, METH_VARARGS, "dive_score.dive_leaves"},
    {"count_leaves", count_leaves, METH_VARARGS, "DiveScore.add's loop for a layer with no whiteout"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_overlay_core", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__overlay_core(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddIntConstant(m, "SOURCE_CRC", SOURCE_CRC) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
