/* [MS-RDPBCGR 2.2.9.1.1.3.1.2.4] RLE_BITMAP_STREAM of many tiles: the pixel conversion
 * (wire_values), the order parse and the byte writing of compositor/encoders/interleaved.py
 * in C.
 *
 * The orders are the ones _encode_batch's masks choose, pixel for pixel, so both give the
 * same bytes. For pixel i of a tile of width w (scanlines bottom-up, one after another):
 *
 * - "up" when i >= w and it equals pixel i - w; background (bg) when up and pixel i - 1 or
 *   i + 1 is up too (a lone one costs as much as it saves). A maximal stretch of background
 *   is one background run: never on the first scanline, never two in a row;
 * - "same" when i >= 1, it equals pixel i - 1 and neither of the two is background; a pixel
 *   that is not same followed by two that are heads a colour run, which takes every same
 *   pixel after it (3 or more identical pixels);
 * - every other stretch (up to a background pixel or a run head) is one colour image.
 *
 * Each order has the regular form below 288 pixels (1 byte under 32, else 2) and the
 * MEGA_MEGA form above; a tile holds at most 65535 pixels, so no run is ever split. A tile
 * whose stream is not smaller than its raw data (rows padded to 4 bytes) gives None. Its
 * stream is written into that many bytes, every write checked against their end: a write
 * that does not fit means the tile is not worth it, and its encoding stops there.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PIXELS 0xFFFF

/* Order codes: regular orders keep theirs in the top 3 bits. */
#define REGULAR_BG_RUN 0x0
#define REGULAR_COLOR_RUN 0x3
#define REGULAR_COLOR_IMAGE 0x4
#define MEGA_MEGA_BG_RUN 0xF0
#define MEGA_MEGA_COLOR_RUN 0xF3
#define MEGA_MEGA_COLOR_IMAGE 0xF4

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

/* Wire pixel value i of a tile: uint16 (2 bytes on the wire) or uint32 0x00RRGGBB (3 bytes),
 * read with memcpy since the buffer need not be aligned. */
static inline uint32_t
load(const uint8_t *values, Py_ssize_t i, int pixel_bytes)
{
    if (pixel_bytes == 2) {
        uint16_t v;
        memcpy(&v, values + 2 * i, 2);
        return v;
    }
    uint32_t v;
    memcpy(&v, values + 4 * i, 4);
    return v;
}

/* Pixels first..first+count of the tile, little-endian. */
static int
put_pixels(Out *o, const uint8_t *values, Py_ssize_t first, Py_ssize_t count, int pixel_bytes)
{
    if (count > (o->end - o->at) / pixel_bytes)
        return -1;
    for (Py_ssize_t i = first; i < first + count; i++) {
        uint32_t v = load(values, i, pixel_bytes);
        for (int c = 0; c < pixel_bytes; c++)
            *o->at++ = (uint8_t)(v >> (8 * c));
    }
    return 0;
}

static int
put_header(Out *o, uint8_t regular, uint8_t mega, Py_ssize_t length)
{
    if (length < 32)
        return put(o, (uint8_t)(regular << 5 | length));
    if (length < 288)
        return put(o, (uint8_t)(regular << 5)) || put(o, (uint8_t)(length - 32));
    return put(o, mega) || put(o, (uint8_t)(length & 0xFF)) || put(o, (uint8_t)(length >> 8));
}

/* The masks of _encode_batch, a byte per pixel, each in its own array so that each loop
 * below reads arrays it does not write (and can be vectorised). */
typedef struct {
    uint8_t *up;   /* equal to the pixel one scanline up */
    uint8_t *bg;   /* background: up, and the pixel before or after is up too */
    uint8_t *same; /* equal to the pixel before, neither of them background */
    uint8_t *stop; /* background or a colour run's head: where a colour image ends */
} Masks;

/* The end of the stretch of mask bytes equal to value (0 or 1) from j on, at most n: a word at
 * a time, as background runs are most of a screen's pixels. */
static inline Py_ssize_t
stretch_end(const uint8_t *mask, Py_ssize_t j, Py_ssize_t n, uint8_t value)
{
    const uint64_t word_of_value = value * UINT64_C(0x0101010101010101);
    for (; j + 8 <= n; j += 8) {
        uint64_t word;
        memcpy(&word, mask + j, 8);
        if (word != word_of_value)
            break;
    }
    while (j < n && mask[j] == value)
        j++;
    return j;
}

/* The orders of one tile of n pixels, scanlines of ``width``, into o; the masks have room for
 * n + 2 bytes each. Inlined with a constant pixel_bytes (encode_tile_2, encode_tile_3). */
static inline __attribute__((always_inline)) int
encode_tile(Out *o, const uint8_t *restrict values, Py_ssize_t n, Py_ssize_t width,
            const Masks *m, int pixel_bytes)
{
    uint8_t *restrict up = m->up, *restrict bg = m->bg;
    uint8_t *restrict same = m->same, *restrict stop = m->stop;
    memset(up, 0, (size_t)width);
    up[n] = 0;
    for (Py_ssize_t i = width; i < n; i++)
        up[i] = load(values, i, pixel_bytes) == load(values, i - width, pixel_bytes);
    bg[0] = 0; /* on the first scanline */
    for (Py_ssize_t i = 1; i < n; i++)
        bg[i] = up[i] & (up[i - 1] | up[i + 1]);
    same[0] = same[n] = same[n + 1] = 0;
    for (Py_ssize_t i = 1; i < n; i++)
        same[i] = (load(values, i, pixel_bytes) == load(values, i - 1, pixel_bytes)) &
                  !bg[i] & !bg[i - 1];
    for (Py_ssize_t i = 0; i < n; i++)
        stop[i] = bg[i] | ((same[i] ^ 1) & same[i + 1] & same[i + 2]);

    Py_ssize_t i = 0;
    while (i < n) {
        Py_ssize_t j;
        if (bg[i]) {
            j = stretch_end(bg, i + 1, n, 1);
            if (put_header(o, REGULAR_BG_RUN, MEGA_MEGA_BG_RUN, j - i))
                return -1;
        } else if (stop[i]) { /* a run's head: the run is every same pixel after it */
            j = stretch_end(same, i + 1, n, 1);
            if (put_header(o, REGULAR_COLOR_RUN, MEGA_MEGA_COLOR_RUN, j - i) ||
                put_pixels(o, values, i, 1, pixel_bytes))
                return -1;
        } else {
            j = stretch_end(stop, i + 1, n, 0);
            if (put_header(o, REGULAR_COLOR_IMAGE, MEGA_MEGA_COLOR_IMAGE, j - i) ||
                put_pixels(o, values, i, j - i, pixel_bytes))
                return -1;
        }
        i = j;
    }
    return 0;
}

static int
encode_tile_2(Out *o, const uint8_t *values, Py_ssize_t n, Py_ssize_t width, const Masks *m)
{
    return encode_tile(o, values, n, width, m, 2);
}

static int
encode_tile_3(Out *o, const uint8_t *values, Py_ssize_t n, Py_ssize_t width, const Masks *m)
{
    return encode_tile(o, values, n, width, m, 3);
}

/* Accepts native uint16 ("H") for 2-byte pixels and native uint32 ("I") for 3-byte ones. */
static int
format_fits(const Py_buffer *view, int pixel_bytes)
{
    const char *want = pixel_bytes == 2 ? "H" : "I";
    Py_ssize_t itemsize = pixel_bytes == 2 ? 2 : 4;
    return view->itemsize == itemsize && view->format != NULL && strcmp(view->format, want) == 0;
}

PyDoc_STRVAR(encode_tiles_doc,
"encode_tiles(values, width, pixel_bytes) -> list[bytes | None]\n\n"
"RLE_BITMAP_STREAM of each tile of ``values``, a C-contiguous (T, n) array of wire pixel\n"
"values in stream order (scanlines of ``width`` pixels, bottom-up): uint16 when\n"
"``pixel_bytes`` is 2 (15/16 bpp), uint32 0x00RRGGBB when it is 3 (24 bpp). None for a tile\n"
"whose stream would not be smaller than its raw data.");

static PyObject *
encode_tiles(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *values_obj;
    Py_ssize_t width;
    int pixel_bytes;
    if (!PyArg_ParseTuple(args, "Oni", &values_obj, &width, &pixel_bytes))
        return NULL;
    if (pixel_bytes != 2 && pixel_bytes != 3) {
        PyErr_Format(PyExc_ValueError, "pixels are 2 or 3 bytes, not %d", pixel_bytes);
        return NULL;
    }
    Py_buffer values;
    if (PyObject_GetBuffer(values_obj, &values, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        if (!PyErr_ExceptionMatches(PyExc_BufferError))
            return NULL;
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "values must be a C-contiguous (T, n) array");
        return NULL;
    }
    PyObject *result = NULL;
    uint8_t *out = NULL, *masks = NULL;
    Py_ssize_t *lengths = NULL;
    if (values.ndim != 2 || !format_fits(&values, pixel_bytes)) {
        PyErr_Format(PyExc_ValueError, "values must be a (T, n) array of native %s",
                     pixel_bytes == 2 ? "uint16" : "uint32");
        goto done;
    }
    Py_ssize_t n_tiles = values.shape[0], n = values.shape[1];
    if (n < 1 || n > MAX_PIXELS || width <= 0 || n % width) {
        PyErr_Format(PyExc_ValueError, "tiles must be whole scanlines of a positive width "
                     "and hold 1..%d pixels", MAX_PIXELS);
        goto done;
    }
    Py_ssize_t height = n / width;
    Py_ssize_t raw_size = ((width * pixel_bytes + 3) & ~(Py_ssize_t)3) * height;
    if (n_tiles > PY_SSIZE_T_MAX / raw_size) {
        PyErr_NoMemory();
        goto done;
    }
    /* Every tile written takes fewer than raw_size bytes, so n_tiles * raw_size hold them all
     * one after another. */
    out = PyMem_Malloc(n_tiles ? (size_t)(n_tiles * raw_size) : 1);
    masks = PyMem_Malloc(4 * ((size_t)n + 2));
    lengths = PyMem_Malloc(n_tiles ? (size_t)n_tiles * sizeof(Py_ssize_t) : 1);
    if (out == NULL || masks == NULL || lengths == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t tile_size = n * values.itemsize;
    uint8_t *at = out;
    Masks m = {masks, masks + n + 2, masks + 2 * (n + 2), masks + 3 * (n + 2)};
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < n_tiles; k++) {
        const uint8_t *tile = (const uint8_t *)values.buf + k * tile_size;
        Out o = {at, at + raw_size};
        int too_long = pixel_bytes == 2 ? encode_tile_2(&o, tile, n, width, &m)
                                        : encode_tile_3(&o, tile, n, width, &m);
        if (too_long || o.at == o.end) {
            lengths[k] = -1;
        } else {
            lengths[k] = o.at - at;
            at = o.at;
        }
    }
    Py_END_ALLOW_THREADS
    result = PyList_New(n_tiles);
    if (result == NULL)
        goto done;
    at = out;
    for (Py_ssize_t k = 0; k < n_tiles; k++) {
        PyObject *item;
        if (lengths[k] < 0) {
            item = Py_NewRef(Py_None);
        } else {
            item = PyBytes_FromStringAndSize((const char *)at, lengths[k]);
            if (item == NULL) {
                Py_CLEAR(result);
                goto done;
            }
            at += lengths[k];
        }
        PyList_SET_ITEM(result, k, item);
    }
done:
    PyMem_Free(out);
    PyMem_Free(masks);
    PyMem_Free(lengths);
    PyBuffer_Release(&values);
    return result;
}

/* One scanline of BGRX pixels to wire values, in loops the vectoriser takes (at 24 bpp a pixel
 * read as one little-endian word; at 15 and 16 bpp channel by channel, which it vectorises
 * where the word's shifts and masks it did not). */
static inline uint32_t
bgrx_word(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static void
values_24(const uint8_t *restrict row, uint32_t *restrict dst, Py_ssize_t w)
{
    for (Py_ssize_t i = 0; i < w; i++)
        dst[i] = bgrx_word(row + 4 * i) & 0xFFFFFFu;
}

static void
values_16(const uint8_t *restrict row, uint16_t *restrict dst, Py_ssize_t w)
{
    for (Py_ssize_t i = 0; i < w; i++)
        dst[i] = (uint16_t)((row[4 * i + 2] & 0xF8) << 8 | (row[4 * i + 1] & 0xFC) << 3 | row[4 * i] >> 3);
}

static void
values_15(const uint8_t *restrict row, uint16_t *restrict dst, Py_ssize_t w)
{
    for (Py_ssize_t i = 0; i < w; i++)
        dst[i] = (uint16_t)((row[4 * i + 2] & 0xF8) << 7 | (row[4 * i + 1] & 0xF8) << 2 | row[4 * i] >> 3);
}

PyDoc_STRVAR(wire_values_doc,
"wire_values(tiles, bpp, out)\n--\n\n"
"The wire values of (T, h, w, 4) BGRX tiles into out, a C-contiguous (T, h * w) array, each\n"
"tile's scanlines bottom-up: uint16 RGB555 or RGB565 at 15 or 16 bpp (the top bits of each\n"
"channel), uint32 0x00RRGGBB at 24 bpp. The pixels of a tile's rows must be contiguous.");

static PyObject *
wire_values(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *tiles_obj;
    int bpp;
    Py_buffer out;
    if (!PyArg_ParseTuple(args, "Oiw*", &tiles_obj, &bpp, &out))
        return NULL;
    PyObject *result = NULL;
    Py_buffer tiles;
    if (PyObject_GetBuffer(tiles_obj, &tiles, PyBUF_STRIDES) < 0)
        goto release_out;
    Py_ssize_t value_size = bpp == 24 ? 4 : 2;
    if (bpp != 15 && bpp != 16 && bpp != 24) {
        PyErr_Format(PyExc_ValueError, "interleaved RLE carries 15, 16 or 24 bpp, not %d", bpp);
    } else if (tiles.ndim != 4 || tiles.itemsize != 1 || tiles.shape[3] != 4 || tiles.strides[3] != 1
               || tiles.strides[2] != 4) {
        PyErr_SetString(PyExc_ValueError, "tiles must be (T, h, w, 4) bytes, each row's pixels contiguous");
    } else if (!PyBuffer_IsContiguous(&out, 'C')
               || out.len != tiles.shape[0] * tiles.shape[1] * tiles.shape[2] * value_size) {
        PyErr_SetString(PyExc_ValueError, "out must be a C-contiguous (T, h * w) array of the depth's values");
    } else {
        Py_ssize_t n_tiles = tiles.shape[0], h = tiles.shape[1], w = tiles.shape[2];
        const uint8_t *base = tiles.buf;
        uint8_t *o = out.buf;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t k = 0; k < n_tiles; k++) {
            for (Py_ssize_t j = 0; j < h; j++, o += w * value_size) {
                const uint8_t *row = base + k * tiles.strides[0] + (h - 1 - j) * tiles.strides[1];
                if (bpp == 24)
                    values_24(row, (uint32_t *)o, w);
                else if (bpp == 16)
                    values_16(row, (uint16_t *)o, w);
                else
                    values_15(row, (uint16_t *)o, w);
            }
        }
        Py_END_ALLOW_THREADS
        result = Py_NewRef(Py_None);
    }
    PyBuffer_Release(&tiles);
release_out:
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef methods[] = {
    {"encode_tiles", encode_tiles, METH_VARARGS, encode_tiles_doc},
    {"wire_values", wire_values, METH_VARARGS, wire_values_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "compositor.encoders._interleaved_rle",
    .m_doc = "The interleaved RLE encoder's orders (compositor.encoders.interleaved) in C.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__interleaved_rle(void)
{
    return PyModule_Create(&module);
}
