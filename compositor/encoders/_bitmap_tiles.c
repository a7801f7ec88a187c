/* The per-pixel steps of the bitmap stream (compositor/encoders/bitmap.py) in C: which tiles
 * of a damaged area differ from the screen as last sent (changed_tiles), the copy of changed
 * areas into it (copy_rects), and tiles gathered from the screen into one stack for their
 * batch encode (gather). Screens come as numpy gives them: (h, w) uint32 words or (h, w, 4)
 * bytes, any row stride, pixels next to each other. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    Py_buffer view;
    uint8_t *base;
    Py_ssize_t rows, cols, row_stride;
} Pixels;

/* An (h, w) array of 4-byte words or an (h, w, 4) array of bytes, its pixels contiguous
 * within a row; -1 with an exception set. */
static int
get_pixels(PyObject *obj, Pixels *p, const char *name, int writable)
{
    if (PyObject_GetBuffer(obj, &p->view, PyBUF_STRIDES | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    Py_buffer *v = &p->view;
    int words = v->ndim == 2 && v->itemsize == 4 && v->strides[1] == 4;
    int bytes = v->ndim == 3 && v->itemsize == 1 && v->shape[2] == 4 && v->strides[2] == 1 && v->strides[1] == 4;
    if (!words && !bytes) {
        PyErr_Format(PyExc_ValueError, "%s must be (h, w) 4-byte words or (h, w, 4) bytes, each row's "
                     "pixels contiguous", name);
        PyBuffer_Release(v);
        return -1;
    }
    if (v->strides[0] < 0) {
        PyErr_Format(PyExc_ValueError, "%s must not run bottom-up", name);
        PyBuffer_Release(v);
        return -1;
    }
    p->base = v->buf;
    p->rows = v->shape[0];
    p->cols = v->shape[1];
    p->row_stride = v->strides[0];
    return 0;
}

static inline uint8_t *
at(const Pixels *p, Py_ssize_t x, Py_ssize_t y)
{
    return p->base + y * p->row_stride + x * 4;
}

/* changed_tiles(cur, old, t) -> bytes: one flag per t x t tile (rows of tiles, then columns,
 * from the top-left corner; the last row and column of tiles may be partial), 1 where the
 * tile's pixels (all four bytes) differ. Each row is compared whole, and tile by tile where
 * it differs, until every tile of its band differs. */
static PyObject *
changed_tiles(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *cur_obj, *old_obj;
    Py_ssize_t t;
    if (!PyArg_ParseTuple(args, "OOn", &cur_obj, &old_obj, &t))
        return NULL;
    if (t < 1) {
        PyErr_SetString(PyExc_ValueError, "t must be at least 1");
        return NULL;
    }
    Pixels cur, old;
    if (get_pixels(cur_obj, &cur, "cur", 0) < 0)
        return NULL;
    if (get_pixels(old_obj, &old, "old", 0) < 0) {
        PyBuffer_Release(&cur.view);
        return NULL;
    }
    PyObject *result = NULL;
    if (cur.rows != old.rows || cur.cols != old.cols) {
        PyErr_SetString(PyExc_ValueError, "cur and old must have the same shape");
        goto done;
    }
    Py_ssize_t tile_rows = (cur.rows + t - 1) / t, tile_cols = (cur.cols + t - 1) / t;
    result = PyBytes_FromStringAndSize(NULL, tile_rows * tile_cols);
    if (!result)
        goto done;
    uint8_t *flags = (uint8_t *)PyBytes_AS_STRING(result);
    memset(flags, 0, (size_t)(tile_rows * tile_cols));
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t ty = 0; ty < tile_rows; ty++) {
        uint8_t *band = flags + ty * tile_cols;
        Py_ssize_t y1 = ty * t + t < cur.rows ? ty * t + t : cur.rows, flagged = 0;
        for (Py_ssize_t y = ty * t; y < y1 && flagged < tile_cols; y++) {
            /* A whole row first: where nothing changed, one long compare per row. */
            if (memcmp(at(&cur, 0, y), at(&old, 0, y), (size_t)cur.cols * 4) == 0)
                continue;
            for (Py_ssize_t tx = 0; tx < tile_cols; tx++) {
                Py_ssize_t x0 = tx * t, w = (x0 + t < cur.cols ? x0 + t : cur.cols) - x0;
                if (!band[tx] && memcmp(at(&cur, x0, y), at(&old, x0, y), (size_t)w * 4) != 0) {
                    band[tx] = 1;
                    flagged++;
                }
            }
        }
    }
    Py_END_ALLOW_THREADS
done:
    PyBuffer_Release(&cur.view);
    PyBuffer_Release(&old.view);
    return result;
}

/* Read (x, y, w, h) from a sequence item; -1 with an exception set. */
static int
rect_of(PyObject *item, Py_ssize_t r[4])
{
    PyObject *seq = PySequence_Fast(item, "a rectangle must be a sequence (x, y, w, h)");
    if (!seq)
        return -1;
    int ok = PySequence_Fast_GET_SIZE(seq) == 4;
    for (int i = 0; ok && i < 4; i++) {
        r[i] = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(seq, i));
        ok = !(r[i] == -1 && PyErr_Occurred());
    }
    Py_DECREF(seq);
    if (!ok && !PyErr_Occurred())
        PyErr_SetString(PyExc_ValueError, "a rectangle must be (x, y, w, h)");
    return ok ? 0 : -1;
}

/* copy_rects(dst, src, rects): the pixels of each (x, y, w, h) of src into dst (two screens
 * of one shape; every rectangle must lie inside them). */
static PyObject *
copy_rects(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *dst_obj, *src_obj, *rects_obj;
    if (!PyArg_ParseTuple(args, "OOO", &dst_obj, &src_obj, &rects_obj))
        return NULL;
    PyObject *rects = PySequence_Fast(rects_obj, "rects must be a sequence");
    if (!rects)
        return NULL;
    Pixels dst, src;
    if (get_pixels(dst_obj, &dst, "dst", 1) < 0) {
        Py_DECREF(rects);
        return NULL;
    }
    if (get_pixels(src_obj, &src, "src", 0) < 0) {
        PyBuffer_Release(&dst.view);
        Py_DECREF(rects);
        return NULL;
    }
    PyObject *result = NULL;
    if (dst.rows != src.rows || dst.cols != src.cols) {
        PyErr_SetString(PyExc_ValueError, "dst and src must have the same shape");
        goto done;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(rects);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t r[4];
        if (rect_of(PySequence_Fast_GET_ITEM(rects, i), r) < 0)
            goto done;
        Py_ssize_t x = r[0], y = r[1], w = r[2], h = r[3];
        if (x < 0 || y < 0 || w < 0 || h < 0 || w > dst.cols - x || h > dst.rows - y) {
            PyErr_Format(PyExc_ValueError, "rectangle (%zd, %zd, %zd, %zd) is not inside the %zdx%zd screen",
                         x, y, w, h, dst.cols, dst.rows);
            goto done;
        }
        for (Py_ssize_t row = y; row < y + h; row++)
            memmove(at(&dst, x, row), at(&src, x, row), (size_t)w * 4);
    }
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&dst.view);
    PyBuffer_Release(&src.view);
    Py_DECREF(rects);
    return result;
}

/* gather(screen, origins, w, h, coded_w, out): the w x h tiles of screen at each (x, y) of
 * origins into out, a contiguous (len(origins), h, coded_w, 4) byte stack; columns from w
 * to coded_w repeat each row's last pixel. */
static PyObject *
gather(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *screen_obj, *origins_obj;
    Py_ssize_t w, h, coded_w;
    Py_buffer out;
    if (!PyArg_ParseTuple(args, "OOnnnw*", &screen_obj, &origins_obj, &w, &h, &coded_w, &out))
        return NULL;
    PyObject *result = NULL, *origins = NULL;
    Pixels screen;
    if (get_pixels(screen_obj, &screen, "screen", 0) < 0)
        goto release_out;
    origins = PySequence_Fast(origins_obj, "origins must be a sequence");
    if (!origins)
        goto done;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(origins);
    if (w < 1 || h < 1 || coded_w < w) {
        PyErr_SetString(PyExc_ValueError, "tiles must be at least 1x1, coded_w at least w");
        goto done;
    }
    if (!PyBuffer_IsContiguous(&out, 'C') || out.len / 4 / h / coded_w != n || out.len % (4 * h * coded_w)) {
        PyErr_SetString(PyExc_ValueError, "out must be a contiguous (len(origins), h, coded_w, 4) byte stack");
        goto done;
    }
    uint8_t *o = out.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *origin = PySequence_Fast_GET_ITEM(origins, i);
        Py_ssize_t x, y;
        if (!PyArg_ParseTuple(origin, "nn", &x, &y)) {
            goto done;
        }
        if (x < 0 || y < 0 || w > screen.cols - x || h > screen.rows - y) {
            PyErr_Format(PyExc_ValueError, "a %zdx%zd tile at (%zd, %zd) is not inside the %zdx%zd screen",
                         w, h, x, y, screen.cols, screen.rows);
            goto done;
        }
        for (Py_ssize_t row = 0; row < h; row++, o += coded_w * 4) {
            memcpy(o, at(&screen, x, y + row), (size_t)w * 4);
            for (Py_ssize_t c = w; c < coded_w; c++)
                memcpy(o + c * 4, o + (w - 1) * 4, 4);
        }
    }
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(origins);
    PyBuffer_Release(&screen.view);
release_out:
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef methods[] = {
    {"changed_tiles", changed_tiles, METH_VARARGS,
     "changed_tiles(cur, old, t) -> bytes: 1 for each t x t tile whose pixels differ."},
    {"copy_rects", copy_rects, METH_VARARGS,
     "copy_rects(dst, src, rects): the pixels of each (x, y, w, h) of src into dst."},
    {"gather", gather, METH_VARARGS,
     "gather(screen, origins, w, h, coded_w, out): tiles at origins into a byte stack."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "compositor.encoders._bitmap_tiles",
    .m_doc = "The bitmap stream's per-pixel steps (compositor.encoders.bitmap) in C.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__bitmap_tiles(void)
{
    return PyModule_Create(&module);
}
