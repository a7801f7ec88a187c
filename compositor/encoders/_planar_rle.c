/* [MS-RDPEGDI 2.2.2.5.1.1] RDP6_RLE_SEGMENTS of many scanlines: the run-length stage of
 * compositor/encoders/planar.py in C.
 *
 * The parse is rle_scanline_reference's, step for step, so both give the same bytes:
 *
 * - a run is 3 or more values each equal to the value before it (the first value of a
 *   scanline is compared with 0); every other value is raw;
 * - raw values go out 15 to a segment (control 0xF0) until at most 15 are left; the last
 *   segment of raw values carries up to 15 values of the run that follows (fewer when a zero
 *   run would leave 1 or 2 values over);
 * - what is left of a zero run goes out in run-only segments of up to 47 values; what is
 *   left of a non-zero run in segments that restate the value (1 raw + up to 15 run), since
 *   decoders disagree on what a run-only segment repeats.
 *
 * Each scanline needs at most width + width / 15 + 3 bytes (raw values, one control per 15 of
 * them, and the last segment's); restated runs need 2 bytes per 16 values and run-only
 * segments 1 per 47, both less than the values they stand for. The output is sized for that
 * bound and every write is checked against its end all the same.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_RAW 15
#define MIN_RUN 3
#define MAX_RUN_ALONE 47

typedef struct {
    uint8_t *at, *end;
} Out;

static int
put(Out *o, uint8_t byte)
{
    if (o->at >= o->end)
        return -1;
    *o->at++ = byte;
    return 0;
}

static int
put_bytes(Out *o, const uint8_t *bytes, Py_ssize_t n)
{
    if (n > o->end - o->at)
        return -1;
    memcpy(o->at, bytes, (size_t)n);
    o->at += n;
    return 0;
}

static uint8_t
run_control(Py_ssize_t length)
{
    if (length < 16)
        return (uint8_t)length;
    return (uint8_t)(length < 32 ? 1 | ((length - 16) << 4) : 2 | ((length - 32) << 4));
}

/* The raw values raw[0..n) and the run of ``run`` values after them (planar.py's
 * _flush_segment). */
static int
flush(Out *o, const uint8_t *raw, Py_ssize_t n, Py_ssize_t run)
{
    while (n > MAX_RAW) {
        if (put(o, 0xF0) || put_bytes(o, raw, MAX_RAW))
            return -1;
        raw += MAX_RAW;
        n -= MAX_RAW;
    }
    uint8_t value = n ? raw[n - 1] : 0;
    if (n) {
        Py_ssize_t r1 = run < 15 ? run : 15;
        if (value == 0 && run - r1 > 0 && run - r1 < MIN_RUN)
            r1 = run - MIN_RUN;
        if (put(o, (uint8_t)(r1 | (n << 4))) || put_bytes(o, raw, n))
            return -1;
        run -= r1;
    }
    if (value == 0) {
        while (run > 0) {
            Py_ssize_t chunk = run < MAX_RUN_ALONE ? run : MAX_RUN_ALONE;
            if (run - chunk > 0 && run - chunk < MIN_RUN)
                chunk = MAX_RUN_ALONE - MIN_RUN;
            if (put(o, run_control(chunk)))
                return -1;
            run -= chunk;
        }
        return 0;
    }
    for (; run >= 16; run -= 16)
        if (put(o, 15 | (1 << 4)) || put(o, value))
            return -1;
    if (run >= 1 + MIN_RUN)
        return put(o, (uint8_t)((run - 1) | (1 << 4))) || put(o, value);
    if (run) {
        if (put(o, (uint8_t)(run << 4)))
            return -1;
        for (Py_ssize_t i = 0; i < run; i++)
            if (put(o, value))
                return -1;
    }
    return 0;
}

static int
scanline(Out *o, const uint8_t *v, Py_ssize_t width)
{
    Py_ssize_t x = 0, raw_start = 0;
    while (x < width) {
        Py_ssize_t end = x;
        while (end < width && v[end] == (end > 0 ? v[end - 1] : 0))
            end++;
        if (end - x >= MIN_RUN) {
            if (flush(o, v + raw_start, x - raw_start, end - x))
                return -1;
            x = raw_start = end;
        } else {
            x++; /* raw; the run check starts again at the next value */
        }
    }
    return x > raw_start ? flush(o, v + raw_start, x - raw_start, 0) : 0;
}

PyDoc_STRVAR(rle_rows_doc,
"rle_rows(values, width) -> (segments, row_bytes)\n\n"
"RDP6_RLE_SEGMENTS of every scanline of ``values`` (a C-contiguous buffer of bytes, scanlines\n"
"of ``width`` values one after another), each on its own: the segments of all scanlines\n"
"concatenated, and the byte count of each scanline as native int64 values.");

static PyObject *
rle_rows(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer values;
    Py_ssize_t width;
    if (!PyArg_ParseTuple(args, "y*n", &values, &width))
        return NULL;
    PyObject *segments = NULL, *row_bytes = NULL, *result = NULL;
    if (width <= 0 || values.len % width) {
        PyErr_SetString(PyExc_ValueError, "values must be whole scanlines of a positive width");
        goto done;
    }
    Py_ssize_t rows = values.len / width;
    Py_ssize_t bound = width + width / MAX_RAW + 3;
    if (rows && bound > PY_SSIZE_T_MAX / rows) {
        PyErr_NoMemory();
        goto done;
    }
    segments = PyBytes_FromStringAndSize(NULL, rows * bound);
    row_bytes = PyBytes_FromStringAndSize(NULL, rows * (Py_ssize_t)sizeof(int64_t));
    if (segments == NULL || row_bytes == NULL)
        goto done;
    uint8_t *start = (uint8_t *)PyBytes_AS_STRING(segments);
    Out o = {start, start + rows * bound};
    int64_t *lengths = (int64_t *)PyBytes_AS_STRING(row_bytes);
    const uint8_t *v = values.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = 0; r < rows; r++) {
        uint8_t *row_start = o.at;
        if (scanline(&o, v + r * width, width)) {
            o.at = NULL;
            break;
        }
        lengths[r] = o.at - row_start;
    }
    Py_END_ALLOW_THREADS
    if (o.at == NULL) {
        PyErr_SetString(PyExc_SystemError, "planar RLE overran its output bound");
        goto done;
    }
    if (_PyBytes_Resize(&segments, o.at - start) < 0)
        goto done;
    result = PyTuple_Pack(2, segments, row_bytes);
done:
    Py_XDECREF(segments);
    Py_XDECREF(row_bytes);
    PyBuffer_Release(&values);
    return result;
}

static PyMethodDef methods[] = {
    {"rle_rows", rle_rows, METH_VARARGS, rle_rows_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "compositor.encoders._planar_rle",
    .m_doc = "The planar codec's run-length stage (compositor.encoders.planar) in C.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__planar_rle(void)
{
    return PyModule_Create(&module);
}
