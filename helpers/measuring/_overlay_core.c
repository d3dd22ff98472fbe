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

/* path.rpartition("/")[0], made once.  A layer lists a folder's entries together, so an entry's parent is
 * most often the last entry's: that str is handed out again (its hash already known) instead of a new
 * one made and hashed.  A folder's own parent is remembered by the folder's str. */
typedef struct {
    PyObject *last;  /* the parent handed out last, or NULL */
    PyObject *known; /* folder -> its parent */
} Parents;

static PyObject *parent_of(Parents *parents, PyObject *path)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(path);
    Py_ssize_t slash = PyUnicode_FindChar(path, '/', 0, n, -1);
    if (slash == -2)
        return NULL;
    if (slash < 0)
        return PyUnicode_New(0, 0);
    PyObject *last = parents->last;
    if (last && PyUnicode_GET_LENGTH(last) == slash && PyUnicode_Tailmatch(path, last, 0, slash, -1) == 1)
        return Py_NewRef(last);
    PyObject *parent = PyUnicode_Substring(path, 0, slash);
    if (parent)
        Py_XSETREF(parents->last, Py_NewRef(parent));
    return parent;
}

/* The parent of a folder met before (a str handed out by parent_of), remembered. */
static PyObject *folder_parent(Parents *parents, PyObject *folder)
{
    PyObject *known = PyDict_GetItemWithError(parents->known, folder);
    if (known)
        return Py_NewRef(known);
    if (PyErr_Occurred())
        return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(folder);
    Py_ssize_t slash = PyUnicode_FindChar(folder, '/', 0, n, -1);
    if (slash == -2)
        return NULL;
    PyObject *parent = slash < 0 ? PyUnicode_New(0, 0) : PyUnicode_Substring(folder, 0, slash);
    if (parent && PyDict_SetItem(parents->known, folder, parent) < 0)
        Py_CLEAR(parent);
    return parent;
}

static int parents_init(Parents *parents)
{
    parents->last = NULL;
    parents->known = PyDict_New();
    return parents->known ? 0 : -1;
}

static void parents_clear(Parents *parents)
{
    Py_CLEAR(parents->last);
    Py_CLEAR(parents->known);
}

/* Overlay._link: register path under its parent, and every ancestor under its own. */
static int link_path(Parents *parents, PyObject *children, PyObject *path)
{
    Py_INCREF(path);
    int first = 1;
    while (PyUnicode_GET_LENGTH(path)) {
        PyObject *parent = first ? parent_of(parents, path) : folder_parent(parents, path);
        first = 0;
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

/* a == b for str: two interned strs are equal only when they are one object (kinds always are). */
static int equal(PyObject *a, PyObject *b)
{
    if (a == b)
        return 1;
    if (PyUnicode_CHECK_INTERNED(a) && PyUnicode_CHECK_INTERNED(b))
        return 0;
    return PyUnicode_Compare(a, b) == 0;
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
    Parents parents;
    if (parents_init(&parents) < 0)
        return NULL;
    PyObject *FILE_ = PyTuple_GET_ITEM(names, 0), *DIR_ = PyTuple_GET_ITEM(names, 1),
             *HARDLINK = PyTuple_GET_ITEM(names, 2), *WHITEOUT = PyTuple_GET_ITEM(names, 3),
             *OPAQUE = PyTuple_GET_ITEM(names, 4), *SHADOWED = PyTuple_GET_ITEM(names, 5);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(entries); i++) {
        PyObject *entry = PyList_GET_ITEM(entries, i);
        if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 7) {
            PyErr_SetString(PyExc_TypeError, "an entry must be an Entry");
            parents_clear(&parents);
            return NULL;
        }
        PyObject *path = PyTuple_GET_ITEM(entry, 0), *kind = PyTuple_GET_ITEM(entry, 1),
                 *size = PyTuple_GET_ITEM(entry, 2), *link = PyTuple_GET_ITEM(entry, 6);
        if (!PyUnicode_Check(path) || !PyUnicode_Check(kind)) {
            PyErr_SetString(PyExc_TypeError, "an entry's path and kind must be str");
            parents_clear(&parents);
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
            PyObject *number = PyLong_FromSsize_t(inode);
            record = number ? PyTuple_Pack(3, kind, number, layer) : NULL;
            Py_XDECREF(number);
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
        if (stored < 0 || link_path(&parents, children, path) < 0)
            goto fail_entry;
        Py_DECREF(entry);
        continue;
    fail_entry:
        Py_DECREF(entry);
        parents_clear(&parents);
        return NULL;
    }
    parents_clear(&parents);
    Py_RETURN_NONE;
}

/* Whether the ASCII `text` (of `length` bytes) is anywhere in data[0..n): a memchr for its first byte, then a
 * compare (the C library's substring search costs more to set up than these short paths take to search). */
static int contains(const char *data, Py_ssize_t n, const char *text, Py_ssize_t length)
{
    const char *end = data + n, *at = data;
    while (end - at >= length) {
        at = memchr(at, text[0], (size_t)(end - at - length + 1));
        if (!at)
            return 0;
        if (memcmp(at, text, (size_t)length) == 0)
            return 1;
        at++;
    }
    return 0;
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
    if (PyUnicode_KIND(path) == PyUnicode_1BYTE_KIND
        && !contains((const char *)PyUnicode_1BYTE_DATA(path), PyUnicode_GET_LENGTH(path), ".wh..wh.", 8))
        return 0;
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
    if (PyUnicode_KIND(path) == PyUnicode_1BYTE_KIND)
        return contains((const char *)PyUnicode_1BYTE_DATA(path), PyUnicode_GET_LENGTH(path), ".wh.", 4);
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
    Parents parents;
    if (parents_init(&parents) < 0)
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
        PyObject *parent = parent_of(&parents, path);
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
            PyObject *next = folder_parent(&parents, parent);
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
    parents_clear(&parents);
    return leaves;
fail:
    parents_clear(&parents);
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

/* Whether `path` is one of `keys` or lies beneath one: a test against each "key/" in `prefixes` (a tuple), or,
 * when `prefixes` is None, a walk up the path's folders (dive_score._relevant's two ways, alike). */
static int under(PyObject *path, PyObject *keys, PyObject *prefixes)
{
    int found = PySet_Contains(keys, path);
    if (found)
        return found;
    if (prefixes != Py_None) {
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(prefixes); i++) {
            Py_ssize_t match = PyUnicode_Tailmatch(path, PyTuple_GET_ITEM(prefixes, i), 0, PY_SSIZE_T_MAX, -1);
            if (match)
                return match < 0 ? -1 : 1;
        }
        return 0;
    }
    Py_ssize_t end = PyUnicode_GET_LENGTH(path);
    for (;;) {
        Py_ssize_t slash = PyUnicode_FindChar(path, '/', 0, end, -1);
        if (slash == -2)
            return -1;
        if (slash <= 0)
            return 0;
        PyObject *folder = PyUnicode_Substring(path, 0, slash);
        if (!folder)
            return -1;
        found = PySet_Contains(keys, folder);
        Py_DECREF(folder);
        if (found)
            return found;
        end = slash;
    }
}

/* relevant(entries, keys, above, prefixes, whiteout_target): dive_score._relevant's loop. */
static PyObject *relevant(PyObject *module, PyObject *args)
{
    PyObject *entries, *keys, *above, *prefixes, *whiteout_target;
    if (!PyArg_ParseTuple(args, "O!O!O!OO", &PyList_Type, &entries, &PySet_Type, &keys, &PySet_Type, &above,
                          &prefixes, &whiteout_target))
        return NULL;
    if (prefixes != Py_None && !PyTuple_Check(prefixes)) {
        PyErr_SetString(PyExc_TypeError, "prefixes must be a tuple or None");
        return NULL;
    }
    PyObject *kept = PyList_New(0);
    if (!kept)
        return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(entries); i++) {
        PyObject *entry = PyList_GET_ITEM(entries, i);
        if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 7 || !PyUnicode_Check(PyTuple_GET_ITEM(entry, 0))) {
            PyErr_SetString(PyExc_TypeError, "an entry must be an Entry");
            goto fail;
        }
        PyObject *path = PyTuple_GET_ITEM(entry, 0);
        int keep = PySet_Contains(above, path);
        if (!keep)
            keep = under(path, keys, prefixes);
        if (!keep && has_whiteout_prefix(path)) {
            PyObject *target = PyObject_CallOneArg(whiteout_target, path);
            if (!target)
                goto fail;
            if (target != Py_None) {
                if (!PyUnicode_Check(target)) {
                    Py_DECREF(target);
                    PyErr_SetString(PyExc_TypeError, "a whiteout's target must be a str");
                    goto fail;
                }
                keep = PySet_Contains(above, target);
                if (!keep)
                    keep = under(target, keys, prefixes);
            }
            Py_DECREF(target);
        }
        if (keep < 0 || (keep && PyList_Append(kept, entry) < 0))
            goto fail;
    }
    return kept;
fail:
    Py_DECREF(kept);
    return NULL;
}

/* totals(entries, names) -> (file bytes, markers): Σ size of the entries of kind "file", and the whiteouts and
 * opaque markers in order (what metrics.stored_bytes, Analysis.layer_figures and Overlay.apply each count). */
static PyObject *totals(PyObject *module, PyObject *args)
{
    PyObject *entries, *names;
    if (!PyArg_ParseTuple(args, "O!O!", &PyList_Type, &entries, &PyTuple_Type, &names))
        return NULL;
    if (PyTuple_GET_SIZE(names) != 6) {
        PyErr_SetString(PyExc_TypeError, "names must hold 6 strings");
        return NULL;
    }
    PyObject *FILE_ = PyTuple_GET_ITEM(names, 0), *WHITEOUT = PyTuple_GET_ITEM(names, 3),
             *OPAQUE = PyTuple_GET_ITEM(names, 4);
    PyObject *markers = PyList_New(0), *total = PyLong_FromLong(0);
    if (!markers || !total)
        goto fail;
    long long sum = 0; /* a fast sum while it fits; Python's ints past that */
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(entries); i++) {
        PyObject *entry = PyList_GET_ITEM(entries, i);
        if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 7 || !PyUnicode_Check(PyTuple_GET_ITEM(entry, 1))) {
            PyErr_SetString(PyExc_TypeError, "an entry must be an Entry");
            goto fail;
        }
        PyObject *kind = PyTuple_GET_ITEM(entry, 1), *size = PyTuple_GET_ITEM(entry, 2);
        if (equal(kind, FILE_)) {
            int overflow = 0;
            long long value = PyLong_Check(size) ? PyLong_AsLongLongAndOverflow(size, &overflow) : 0;
            if (value == -1 && PyErr_Occurred())
                goto fail;
            if (!PyLong_Check(size) || overflow || value < 0 || sum > LLONG_MAX - value) {
                PyObject *folded = PyLong_FromLongLong(sum), *partial = folded ? PyNumber_Add(total, folded) : NULL;
                PyObject *grown = partial ? PyNumber_Add(partial, size) : NULL;
                Py_XDECREF(folded);
                Py_XDECREF(partial);
                if (!grown)
                    goto fail;
                Py_SETREF(total, grown);
                sum = 0;
            } else {
                sum += value;
            }
        } else if ((equal(kind, WHITEOUT) || equal(kind, OPAQUE)) && PyList_Append(markers, entry) < 0) {
            goto fail;
        }
    }
    PyObject *folded = PyLong_FromLongLong(sum), *bytes = folded ? PyNumber_Add(total, folded) : NULL;
    Py_XDECREF(folded);
    Py_DECREF(total);
    if (!bytes) {
        Py_DECREF(markers);
        return NULL;
    }
    PyObject *result = PyTuple_Pack(2, bytes, markers);
    Py_DECREF(bytes);
    Py_DECREF(markers);
    return result;
fail:
    Py_XDECREF(markers);
    Py_XDECREF(total);
    return NULL;
}

/* visible_bytes(visible, inode_size) -> Σ inode_size[i] over the inodes (>= 0) of the visible records, each once:
 * metrics.final_bytes. */
static PyObject *visible_bytes(PyObject *module, PyObject *args)
{
    PyObject *visible, *inode_size;
    if (!PyArg_ParseTuple(args, "O!O!", &PyDict_Type, &visible, &PyList_Type, &inode_size))
        return NULL;
    Py_ssize_t inodes = PyList_GET_SIZE(inode_size);
    unsigned char *seen = PyMem_Calloc((size_t)inodes + 1, 1);
    if (!seen)
        return PyErr_NoMemory();
    PyObject *total = PyLong_FromLong(0);
    Py_ssize_t position = 0;
    PyObject *path, *record;
    while (total && PyDict_Next(visible, &position, &path, &record)) {
        if (!PyTuple_Check(record) || PyTuple_GET_SIZE(record) != 3) {
            PyErr_SetString(PyExc_TypeError, "a visible record must be (kind, inode, layer)");
            Py_CLEAR(total);
            break;
        }
        Py_ssize_t inode = PyLong_AsSsize_t(PyTuple_GET_ITEM(record, 1));
        if (inode == -1 && PyErr_Occurred()) {
            Py_CLEAR(total);
            break;
        }
        if (inode < 0 || seen[inode < inodes ? inode : inodes])
            continue;
        if (inode >= inodes) {
            PyErr_SetString(PyExc_IndexError, "an inode past the inode sizes");
            Py_CLEAR(total);
            break;
        }
        seen[inode] = 1;
        Py_SETREF(total, PyNumber_Add(total, PyList_GET_ITEM(inode_size, inode)));
    }
    PyMem_Free(seen);
    return total;
}

static PyMethodDef methods[] = {
    {"add_entries", add_entries, METH_VARARGS, "Overlay._add for each entry of a layer that is no whiteout"},
    {"dive_leaves", dive_leaves, METH_VARARGS, "dive_score.dive_leaves"},
    {"count_leaves", count_leaves, METH_VARARGS, "DiveScore.add's loop for a layer with no whiteout"},
    {"relevant", relevant, METH_VARARGS, "dive_score._relevant's loop"},
    {"totals", totals, METH_VARARGS, "file bytes, and the whiteouts and opaque markers, of a layer's entries"},
    {"visible_bytes", visible_bytes, METH_VARARGS, "metrics.final_bytes"},
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
