/* [MS-RDPEGDI 2.2.2.5.1] The planar codec's per-value stages (compositor/encoders/planar.py) in
 * C: the run-length stage of many scanlines (rle_rows), and whole RDP6_BITMAP_STREAMs of
 * BGRX tiles (encode_tiles: colour planes, delta transform and run-length stage in one pass).
 *
 * The run-length parse is rle_scanline_reference's, step for step, so both give the same
 * bytes:
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
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

/* The first index from x on whose value differs from the one before it (before index 0: 0),
 * or width: where a run that includes v[x] ends. Eight values at a time where the byte order
 * lets the first differing byte be found by counting trailing zero bits. */
static Py_ssize_t
run_end(const uint8_t *v, Py_ssize_t x, Py_ssize_t width)
{
    if (x == 0) {
        if (v[0] != 0)
            return 0;
        x = 1;
    }
#if defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (; x + 8 <= width; x += 8) {
        uint64_t here, before;
        memcpy(&here, v + x, 8);
        memcpy(&before, v + x - 1, 8);
        if (here != before)
            return x + (__builtin_ctzll(here ^ before) >> 3);
    }
#endif
    while (x < width && v[x] == v[x - 1])
        x++;
    return x;
}

/* Where the first run from x on starts (3 values each equal to the one before it), or width.
 * Eight values compared at a time, where the byte order allows: the bytes of ``here ^ before``
 * that are zero mark values equal to the one before them, and three marks in a row a run. */
static Py_ssize_t
next_run(const uint8_t *v, Py_ssize_t x, Py_ssize_t width)
{
    if (x == 0) {
        if (run_end(v, 0, width) >= MIN_RUN)
            return 0;
        x = 1;
    }
#if defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t high = 0x7F7F7F7F7F7F7F7FULL;
    for (; x + 8 <= width; x += 6) {
        uint64_t here, before;
        memcpy(&here, v + x, 8);
        memcpy(&before, v + x - 1, 8);
        uint64_t differ = here ^ before;
        uint64_t same = ~(((differ & high) + high) | differ | high); /* 0x80 in each zero byte */
        uint64_t runs = same & (same >> 8) & (same >> 16); /* bytes 0-5: a run starts there */
        if (runs)
            return x + (__builtin_ctzll(runs) >> 3);
    }
#endif
    for (; x < width; x++)
        if (run_end(v, x, width) - x >= MIN_RUN)
            return x;
    return width;
}

static int
scanline(Out *o, const uint8_t *v, Py_ssize_t width)
{
    Py_ssize_t raw_start = 0;
    for (;;) {
        Py_ssize_t start = next_run(v, raw_start, width);
        if (start >= width)
            break;
        Py_ssize_t end = run_end(v, start, width);
        if (flush(o, v + raw_start, start - raw_start, end - start))
            return -1;
        raw_start = end;
    }
    return width > raw_start ? flush(o, v + raw_start, width - raw_start, 0) : 0;
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

/* The R, G and B planes of a BGRX tile of h x w pixels into planes[0..3hw), scanlines in stream
 * order (bottom-up: stream scanline s is image row h - 1 - s). With ``delta`` (3.1.9.1.3) every
 * scanline after the first is the difference to the one before it in the stream, a signed
 * byte d written 2d for d >= 0 and -2d - 1 for d < 0; the four bytes of a pixel are
 * differenced together, then the colours parted. Sixteen pixels at a time with SSE2. */
static void
tile_planes(uint8_t *planes, const uint8_t *tile, Py_ssize_t h, Py_ssize_t w, int delta)
{
    uint8_t *r = planes, *g = planes + h * w, *b = planes + 2 * h * w;
    for (Py_ssize_t s = 0; s < h; s++, r += w, g += w, b += w) {
        const uint8_t *row = tile + (h - 1 - s) * w * 4;
        const uint8_t *before = delta && s ? row + w * 4 : NULL; /* the image row below */
        Py_ssize_t x = 0;
#if defined(__SSE2__)
        const __m128i low = _mm_set1_epi32(0xFF), zero = _mm_setzero_si128();
        for (; x + 16 <= w; x += 16) {
            __m128i px[4], c[3][4];
            for (int i = 0; i < 4; i++) {
                px[i] = _mm_loadu_si128((const __m128i *)(row + 4 * (x + 4 * i)));
                if (before) {
                    __m128i d = _mm_sub_epi8(px[i], _mm_loadu_si128((const __m128i *)(before + 4 * (x + 4 * i))));
                    px[i] = _mm_xor_si128(_mm_add_epi8(d, d), _mm_cmpgt_epi8(zero, d));
                }
                c[0][i] = _mm_and_si128(_mm_srli_epi32(px[i], 16), low);
                c[1][i] = _mm_and_si128(_mm_srli_epi32(px[i], 8), low);
                c[2][i] = _mm_and_si128(px[i], low);
            }
            uint8_t *dst[3] = {r + x, g + x, b + x};
            for (int k = 0; k < 3; k++)
                _mm_storeu_si128((__m128i *)dst[k],
                                 _mm_packus_epi16(_mm_packs_epi32(c[k][0], c[k][1]), _mm_packs_epi32(c[k][2], c[k][3])));
        }
#endif
        for (; x < w; x++) {
            uint8_t px[3] = {row[4 * x + 2], row[4 * x + 1], row[4 * x]};
            if (before) {
                const uint8_t was[3] = {before[4 * x + 2], before[4 * x + 1], before[4 * x]};
                for (int k = 0; k < 3; k++) {
                    uint8_t d = (uint8_t)(px[k] - was[k]);
                    px[k] = (uint8_t)((d << 1) ^ (d & 0x80 ? 0xFF : 0x00));
                }
            }
            r[x] = px[0];
            g[x] = px[1];
            b[x] = px[2];
        }
    }
}

/* One tile into ``slot``: its three planes' run-length segments if they take at most ``keep``
 * bytes (what keeps the whole stream no longer than the raw form's, so a tie goes to RLE), else
 * the raw planes. Returns the bytes written, negated for the raw form. The slot holds at least
 * ``keep`` bytes and the raw planes; ``values`` holds the delta-transformed planes. */
static Py_ssize_t
encode_tile(uint8_t *slot, Py_ssize_t keep, const uint8_t *tile, Py_ssize_t h, Py_ssize_t w, uint8_t *values)
{
    tile_planes(values, tile, h, w, 1);
    Out o = {slot, slot + (keep > 0 ? keep : 0)};
    for (Py_ssize_t s = 0; s < 3 * h; s++)
        if (scanline(&o, values + s * w, w)) {
            tile_planes(slot, tile, h, w, 0); /* past the raw form's size */
            return -(3 * h * w);
        }
    return o.at - slot;
}

PyDoc_STRVAR(encode_tiles_doc,
"encode_tiles(tiles, count, height, width, rle_header, raw_header) -> list[bytes]\n\n"
"The RDP6_BITMAP_STREAM of each of ``count`` BGRX tiles of ``height`` x ``width`` pixels in\n"
"``tiles`` (a C-contiguous buffer, the tiles one after another): ``rle_header`` and the R, G\n"
"and B planes' run-length segments, or ``raw_header``, the raw planes and a pad byte when that\n"
"is smaller. The headers carry the FormatHeader and the alpha plane, if any, in each form.");

static PyObject *
encode_tiles(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer tiles, rle_header, raw_header;
    Py_ssize_t count, height, width;
    if (!PyArg_ParseTuple(args, "y*nnny*y*", &tiles, &count, &height, &width, &rle_header, &raw_header))
        return NULL;
    PyObject *result = NULL;
    uint8_t *work = NULL;
    if (count < 0 || height <= 0 || width <= 0 || height > 0xFFFF || width > 0xFFFF ||
        (count && height * width * 4 > tiles.len / count) || tiles.len != count * height * width * 4) {
        PyErr_SetString(PyExc_ValueError, "tiles must be count x height x width BGRX pixels");
        goto done;
    }
    Py_ssize_t planes = 3 * height * width;
    /* The run-length form is kept while it is no longer than the raw one; each tile's slot
     * holds either. */
    Py_ssize_t keep = raw_header.len + planes + 1 - rle_header.len;
    Py_ssize_t limit = keep > planes ? keep : planes;
    /* One slot and one set of planes, used by each tile in turn, stay in the cache. */
    work = PyMem_RawMalloc((size_t)(limit + planes));
    if (work == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    uint8_t *values = work + limit;
    const uint8_t *pixels = tiles.buf;
    result = PyList_New(count);
    if (result == NULL)
        goto done;
    for (Py_ssize_t k = 0; k < count; k++) {
        Py_ssize_t size;
        Py_BEGIN_ALLOW_THREADS
        size = encode_tile(work, keep, pixels + k * height * width * 4, height, width, values);
        Py_END_ALLOW_THREADS
        int raw = size < 0;
        Py_ssize_t n = raw ? -size : size;
        const Py_buffer *header = raw ? &raw_header : &rle_header;
        PyObject *stream = PyBytes_FromStringAndSize(NULL, header->len + n + raw);
        if (stream == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        char *at = PyBytes_AS_STRING(stream);
        memcpy(at, header->buf, (size_t)header->len);
        memcpy(at + header->len, work, (size_t)n);
        if (raw)
            at[header->len + n] = 0; /* the raw planes' pad byte */
        PyList_SET_ITEM(result, k, stream);
    }
done:
    PyMem_RawFree(work);
    PyBuffer_Release(&tiles);
    PyBuffer_Release(&rle_header);
    PyBuffer_Release(&raw_header);
    return result;
}

static PyMethodDef methods[] = {
    {"rle_rows", rle_rows, METH_VARARGS, rle_rows_doc},
    {"encode_tiles", encode_tiles, METH_VARARGS, encode_tiles_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "compositor.encoders._planar_rle",
    .m_doc = "The planar codec's per-value stages (compositor.encoders.planar) in C.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__planar_rle(void)
{
    return PyModule_Create(&module);
}
