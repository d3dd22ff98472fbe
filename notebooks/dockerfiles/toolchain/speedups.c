/* A small C extension module: the kind of thing a build-only compiler is installed for. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* checksum(data: bytes) -> int: a 32-bit rolling checksum. */
static PyObject *checksum(PyObject *self, PyObject *args) {
    const unsigned char *data;
    Py_ssize_t size;
    unsigned long sum = 0;
    if (!PyArg_ParseTuple(args, "y#", &data, &size)) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < size; i++) {
        sum = (sum * 31 + data[i]) & 0xffffffffUL;
    }
    return PyLong_FromUnsignedLong(sum);
}

static PyMethodDef methods[] = {
    {"checksum", checksum, METH_VARARGS, "A 32-bit rolling checksum of bytes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "speedups", "Compiled at build time.", -1, methods};

PyMODINIT_FUNC PyInit_speedups(void) { return PyModule_Create(&module); }
