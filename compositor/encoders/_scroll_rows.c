/* The per-pixel steps of the scroll search (compositor/encoders/scroll.py) in C: row hashes
 * of a block of the screen (row_hashes), the vote of rows for a vertical shift
 * (candidate_band) and the longest run of equal rows of two blocks (equal_run). Both take (h, w, 4) byte blocks as numpy gives them: any row and pixel strides
 * (a slice of the screen, or its transpose when columns are searched), the four bytes of a
 * pixel next to each other.
 *
 * row_hashes gives the numpy reference's values exactly: for each row, the sum of
 * (pixel & 0x00FFFFFF) * weight[i] over every step-th pixel i (at most len(weights) of them),
 * in unsigned 64-bit arithmetic, which wraps in C as numpy's uint64 does. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    Py_buffer view;
    const uint8_t *base;
    Py_ssize_t rows, cols, row_stride, col_stride;
} Block;

/* An (h, w, 4) byte block with its pixels' four bytes contiguous; -1 with an exception set. */
static int
get_block(PyObject *obj, Block *b, const char *name)
{
    if (PyObject_GetBuffer(obj, &b->view, PyBUF_STRIDES) < 0)
        return -1;
    if (b->view.ndim != 3 || b->view.itemsize != 1 || b->view.shape[2] != 4 || b->view.strides[2] != 1) {
        PyErr_Format(PyExc_ValueError, "%s must be an (h, w, 4) array of bytes with each pixel's bytes "
                     "contiguous", name);
        PyBuffer_Release(&b->view);
        return -1;
    }
    b->base = b->view.buf;
    b->rows = b->view.shape[0];
    b->cols = b->view.shape[1];
    b->row_stride = b->view.strides[0];
    b->col_stride = b->view.strides[1];
    return 0;
}

static inline uint32_t
pixel(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* row_hashes(block, step, weights, out): out[r] = the hash of row r of block (see above).
 * weights: contiguous uint64 values; out: a writable contiguous uint64 buffer of h values. */
static PyObject *
row_hashes(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *block_obj;
    Py_ssize_t step;
    Py_buffer weights, out;
    if (!PyArg_ParseTuple(args, "Ony*w*", &block_obj, &step, &weights, &out))
        return NULL;
    PyObject *result = NULL;
    Block b;
    if (get_block(block_obj, &b, "block") < 0)
        goto done;
    if (step < 1) {
        PyErr_SetString(PyExc_ValueError, "step must be at least 1");
    } else if (weights.len % 8 || out.len % 8) {
        PyErr_SetString(PyExc_ValueError, "weights and out must hold 64-bit values");
    } else if (out.len / 8 != b.rows) {
        PyErr_SetString(PyExc_ValueError, "out must hold one value per row");
    } else {
        Py_ssize_t n = b.cols ? (b.cols - 1) / step + 1 : 0;
        if (n > weights.len / 8)
            n = weights.len / 8;
        const uint8_t *w8 = weights.buf;
        uint8_t *o8 = out.buf;
        Py_ssize_t pixel_step = b.col_stride * step;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t r = 0; r < b.rows; r++) {
            const uint8_t *p = b.base + r * b.row_stride;
            uint64_t sum = 0;
            for (Py_ssize_t i = 0; i < n; i++, p += pixel_step) {
                uint64_t weight;
                memcpy(&weight, w8 + 8 * i, 8);
                sum += (uint64_t)(pixel(p) & 0x00FFFFFFu) * weight;
            }
            memcpy(o8 + 8 * r, &sum, 8);
        }
        Py_END_ALLOW_THREADS
        result = Py_NewRef(Py_None);
    }
    PyBuffer_Release(&b.view);
done:
    PyBuffer_Release(&weights);
    PyBuffer_Release(&out);
    return result;
}

static int
rows_equal(const Block *a, const Block *b, Py_ssize_t r)
{
    const uint8_t *p = a->base + r * a->row_stride, *q = b->base + r * b->row_stride;
    if (a->col_stride == 4 && b->col_stride == 4)
        return memcmp(p, q, (size_t)a->cols * 4) == 0;
    for (Py_ssize_t i = 0; i < a->cols; i++, p += a->col_stride, q += b->col_stride)
        if (pixel(p) != pixel(q))
            return 0;
    return 1;
}

/* equal_run(before, after): (start, end) of the longest run of rows whose pixels are equal
 * (all four bytes) in two blocks of one shape, the first of equally long ones; None if no row
 * is. */
static PyObject *
equal_run(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *before_obj, *after_obj;
    if (!PyArg_ParseTuple(args, "OO", &before_obj, &after_obj))
        return NULL;
    Block a, b;
    if (get_block(before_obj, &a, "before") < 0)
        return NULL;
    if (get_block(after_obj, &b, "after") < 0) {
        PyBuffer_Release(&a.view);
        return NULL;
    }
    PyObject *result = NULL;
    if (a.rows != b.rows || a.cols != b.cols) {
        PyErr_SetString(PyExc_ValueError, "before and after must have the same shape");
    } else {
        Py_ssize_t best_start = 0, best_len = 0, start = 0;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t r = 0; r <= a.rows; r++) {
            if (r < a.rows && rows_equal(&a, &b, r))
                continue;
            if (r - start > best_len) {
                best_start = start;
                best_len = r - start;
            }
            start = r + 1;
        }
        Py_END_ALLOW_THREADS
        result = best_len ? Py_BuildValue("nn", best_start, best_start + best_len) : Py_NewRef(Py_None);
    }
    PyBuffer_Release(&a.view);
    PyBuffer_Release(&b.view);
    return result;
}

typedef struct {
    uint64_t value;
    Py_ssize_t first, count;  /* count 0: an empty slot */
} Slot;

static Slot *
find_slot(Slot *table, size_t mask, uint64_t value)
{
    size_t i = (size_t)((value * 0x9E3779B97F4A7C15ull) >> 32) & mask;
    while (table[i].count && table[i].value != value)
        i = (i + 1) & mask;
    return &table[i];
}

/* candidate_band(old, new, lo, min_rows): scroll._candidate_band's answer, the same in every
 * case (ties included): old holds the row hashes of the rows before, new those of rows lo,
 * lo + 1, ... after (contiguous uint64 values each). Rows whose hash occurs once in old vote
 * for the shift that brings them to their new row (none for 0); with at least three votes,
 * the shift with the most (the smallest of equally voted ones) is the candidate, cut to the
 * longest run of rows whose hashes agree under it (the first of equally long ones). Returns
 * (dy, start, end) in rows after, or None when there is no candidate or its run is shorter
 * than min_rows. */
static PyObject *
candidate_band(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer old_buf, new_buf;
    Py_ssize_t lo, min_rows;
    if (!PyArg_ParseTuple(args, "y*y*nn", &old_buf, &new_buf, &lo, &min_rows))
        return NULL;
    PyObject *result = NULL;
    Slot *table = NULL;
    Py_ssize_t *votes = NULL;
    if (old_buf.len % 8 || new_buf.len % 8) {
        PyErr_SetString(PyExc_ValueError, "old and new must hold 64-bit values");
        goto done;
    }
    if (lo < 0) {
        PyErr_SetString(PyExc_ValueError, "lo must not be negative");
        goto done;
    }
    Py_ssize_t n_old = old_buf.len / 8, n_new = new_buf.len / 8;
    const uint64_t *old = old_buf.buf, *new = new_buf.buf;
    if (n_old == 0 || n_new == 0 || n_old > PY_SSIZE_T_MAX / 4 || lo > PY_SSIZE_T_MAX / 4 - n_new) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    size_t size = 16;
    while (size < (size_t)n_old * 2)
        size *= 2;
    /* a shift is first - row with 0 <= first < n_old and lo <= row < lo + n_new */
    Py_ssize_t shift_base = lo + n_new - 1, shifts = n_old + lo + n_new - 1;
    table = PyMem_Calloc(size, sizeof(Slot));
    votes = PyMem_Calloc((size_t)shifts, sizeof(Py_ssize_t));
    if (!table || !votes) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n_old; i++) {
        Slot *slot = find_slot(table, size - 1, old[i]);
        if (!slot->count++) {
            slot->value = old[i];
            slot->first = i;
        }
    }
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < n_new; i++) {
        Slot *slot = find_slot(table, size - 1, new[i]);
        Py_ssize_t shift = slot->first - (lo + i);
        if (slot->count == 1 && shift != 0) {
            votes[shift + shift_base]++;
            total++;
        }
    }
    if (total < 3) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    Py_ssize_t best = 0;
    for (Py_ssize_t k = 1; k < shifts; k++)
        if (votes[k] > votes[best])
            best = k;
    Py_ssize_t dy = best - shift_base;
    Py_ssize_t first_row = lo > -dy ? lo : -dy;
    Py_ssize_t end_row = lo + n_new < n_old - dy ? lo + n_new : n_old - dy;
    if (end_row - first_row < min_rows) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    Py_ssize_t run_start = 0, run_len = 0, start = first_row;
    for (Py_ssize_t r = first_row; r <= end_row; r++) {
        if (r < end_row && new[r - lo] == old[r + dy])
            continue;
        if (r - start > run_len) {
            run_start = start;
            run_len = r - start;
        }
        start = r + 1;
    }
    result = run_len && run_len >= min_rows ? Py_BuildValue("nnn", dy, run_start, run_start + run_len)
                                            : Py_NewRef(Py_None);
done:
    PyMem_Free(table);
    PyMem_Free(votes);
    PyBuffer_Release(&old_buf);
    PyBuffer_Release(&new_buf);
    return result;
}

static PyMethodDef methods[] = {
    {"row_hashes", row_hashes, METH_VARARGS,
     "row_hashes(block, step, weights, out): each row's hash of every step-th pixel into out."},
    {"candidate_band", candidate_band, METH_VARARGS,
     "candidate_band(old, new, lo, min_rows) -> (dy, start, end) | None: the shift rows vote for."},
    {"equal_run", equal_run, METH_VARARGS,
     "equal_run(before, after) -> (start, end) | None: the longest run of equal rows."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "compositor.encoders._scroll_rows",
    .m_doc = "The scroll search's per-pixel steps (compositor.encoders.scroll) in C.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__scroll_rows(void)
{
    return PyModule_Create(&module);
}
