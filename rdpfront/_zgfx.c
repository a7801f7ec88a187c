/* [MS-RDPEGFX 3.1.9.1] RDP 8.0 Bulk Compression: the compressor core of rdpfront/zgfx.py.
 *
 * zgfx.Compressor keeps the history (a bytearray, its stream base) and decides what goes raw;
 * a Core holds the hash table and compresses one segment already appended to the history.
 * The parse is the Python code's, step for step, so both give the same bytes:
 *
 * - the key at each position is its 4 bytes read little-endian; the candidate for a position
 *   is the latest earlier position of the segment with the same key, else the hash table's
 *   entry for the key's hash when it holds that key, is still in the history and less than
 *   HISTORY_SIZE bytes back;
 * - greedy: a match (extended as far as the bytes agree, up to the segment's end; the source
 *   may run into the bytes being matched, as the client's copy repeats them) is taken when its
 *   distance and length tokens cost fewer bits than the literals they replace;
 * - after the parse, each hash of the segment's keys points at its last position with it.
 *
 * Every read and write is bounded by the lengths checked on entry; the output never exceeds
 * 9 bits a byte of input (a match is taken only when it costs fewer bits than its literals),
 * and the bit writer checks its end as well.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define HISTORY_SIZE 2500000
#define SEGMENT_MAX 65535 /* bytes of data in one segment (the client decodes at most 65,536) */
#define KEY 4
#define HEADER_COMPRESSED 0x24 /* PACKET_COMPR_TYPE_RDP8 | PACKET_COMPRESSED */
#define MULTIPLIER 2654435761u

/* [3.1.9.1.2] literals with a short code; every other byte is "0" and its 8 bits. */
static const struct { uint8_t byte, bits; uint16_t code; } SHORT_LITERALS[] = {
    {0x00, 5, 0x18}, {0x01, 5, 0x19},
    {0x02, 6, 0x34}, {0x03, 6, 0x35}, {0xFF, 6, 0x36},
    {0x04, 7, 0x6E}, {0x05, 7, 0x6F}, {0x06, 7, 0x70}, {0x07, 7, 0x71},
    {0x08, 7, 0x72}, {0x09, 7, 0x73}, {0x0A, 7, 0x74}, {0x0B, 7, 0x75},
    {0x3A, 7, 0x76}, {0x3B, 7, 0x77}, {0x3C, 7, 0x78}, {0x3D, 7, 0x79},
    {0x3E, 7, 0x7A}, {0x3F, 7, 0x7B}, {0x40, 7, 0x7C}, {0x80, 7, 0x7D},
    {0x0C, 8, 0xFC}, {0x38, 8, 0xFD}, {0x39, 8, 0xFE}, {0x66, 8, 0xFF},
};

/* Match distances: prefix code, prefix bits, value bits, base (ascending bases). */
static const struct { uint32_t code, bits, value_bits, base; } DISTANCES[] = {
    {0x11, 5, 5, 0}, {0x12, 5, 7, 32}, {0x13, 5, 9, 160}, {0x14, 5, 10, 672},
    {0x15, 5, 12, 1696}, {0x2C, 6, 14, 5792}, {0x2D, 6, 15, 22176}, {0x5C, 7, 18, 54944},
    {0x5D, 7, 20, 317088}, {0xBC, 8, 20, 1365664}, {0xBD, 8, 21, 2414240},
    {0x17C, 9, 22, 4511392}, {0x17D, 9, 23, 8705696}, {0x17E, 9, 24, 17094304},
};
#define DISTANCE_COUNT (sizeof DISTANCES / sizeof DISTANCES[0])

static uint16_t literal_code[256];
static uint8_t literal_bits[256];

static void
init_literals(void)
{
    for (int b = 0; b < 256; b++) {
        literal_code[b] = (uint16_t)b;
        literal_bits[b] = 9;
    }
    for (size_t i = 0; i < sizeof SHORT_LITERALS / sizeof SHORT_LITERALS[0]; i++) {
        literal_code[SHORT_LITERALS[i].byte] = SHORT_LITERALS[i].code;
        literal_bits[SHORT_LITERALS[i].byte] = SHORT_LITERALS[i].bits;
    }
}

static inline uint32_t
key_at(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint32_t
bit_length(uint32_t v)
{
    return v ? 32 - (uint32_t)__builtin_clz(v) : 0;
}

/* The distance token (1 <= distance < 2**31): code and bit count. */
static inline void
distance_token(uint32_t distance, uint32_t *code, uint32_t *bits)
{
    size_t k = DISTANCE_COUNT - 1;
    while (DISTANCES[k].base > distance)
        k--;
    *code = (DISTANCES[k].code << DISTANCES[k].value_bits) | (distance - DISTANCES[k].base);
    *bits = DISTANCES[k].bits + DISTANCES[k].value_bits;
}

/* The length token (3 <= length <= SEGMENT_MAX): "0" for 3, else k + 1 ones, a zero, and
 * k + 2 bits added to 4 * 2**k. */
static inline void
length_token(uint32_t length, uint32_t *code, uint32_t *bits)
{
    if (length == 3) {
        *code = 0;
        *bits = 1;
        return;
    }
    uint32_t k = bit_length(length >> 2) - 1;
    uint32_t prefix = ((1u << (k + 1)) - 1) << 1;
    *code = (prefix << (k + 2)) | (length - (4u << k));
    *bits = 2 * k + 4;
}

/* How many bytes from buf[source] equal those from buf[target], at most limit (the first KEY
 * are known equal); source < target and target + limit is within the buffer. */
static inline Py_ssize_t
common_length(const uint8_t *buf, Py_ssize_t source, Py_ssize_t target, Py_ssize_t limit)
{
    Py_ssize_t length = KEY;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (length + 8 <= limit) {
        uint64_t a, b;
        memcpy(&a, buf + source + length, 8);
        memcpy(&b, buf + target + length, 8);
        if (a != b)
            return length + (__builtin_ctzll(a ^ b) >> 3);
        length += 8;
    }
#endif
    while (length < limit && buf[source + length] == buf[target + length])
        length++;
    return length;
}

/* Bits, most significant first, into out[0 .. capacity). */
typedef struct {
    uint8_t *out;
    Py_ssize_t size, capacity;
    uint64_t acc; /* the low `pending` bits are not written yet */
    uint32_t pending;
    int overflow;
} BitWriter;

static inline void
put_bits(BitWriter *w, uint32_t code, uint32_t bits)
{
    w->acc = (w->acc << bits) | code; /* bits <= 32, pending < 8 */
    w->pending += bits;
    while (w->pending >= 8) {
        w->pending -= 8;
        if (w->size >= w->capacity) {
            w->overflow = 1;
            return;
        }
        w->out[w->size++] = (uint8_t)(w->acc >> w->pending);
    }
}

/* The latest position of each exact key in the segment so far: open addressing, at most half
 * full. A slot's position is stored plus one, 0 being empty. */
typedef struct {
    uint32_t key;
    uint32_t position;
} Slot;

static inline Slot *
slot_for(Slot *slots, uint32_t mask, uint32_t shift, uint32_t key)
{
    uint32_t h = (key * MULTIPLIER) >> shift;
    while (slots[h].position && slots[h].key != key)
        h = (h + 1) & mask;
    return &slots[h];
}

typedef struct {
    PyObject_HEAD
    uint32_t shift;
    Py_ssize_t slots;
    int64_t *positions; /* per hash: stream position (plus one, 0 for none) of the last key */
    uint32_t *keys;     /* the key found there */
} CoreObject;

static int
Core_init(CoreObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"table_bits", NULL};
    int table_bits = 17;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|i", kwlist, &table_bits))
        return -1;
    if (table_bits < 1 || table_bits > 28) {
        PyErr_Format(PyExc_ValueError, "table_bits must be 1..28, not %d", table_bits);
        return -1;
    }
    PyMem_Free(self->positions);
    PyMem_Free(self->keys);
    self->slots = (Py_ssize_t)1 << table_bits;
    self->shift = 32 - (uint32_t)table_bits;
    /* calloc: pages of the table never written stay unallocated */
    self->positions = PyMem_Calloc((size_t)self->slots, sizeof(int64_t));
    self->keys = PyMem_Calloc((size_t)self->slots, sizeof(uint32_t));
    if (self->positions == NULL || self->keys == NULL) {
        PyMem_Free(self->positions);
        PyMem_Free(self->keys);
        self->positions = NULL;
        self->keys = NULL;
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void
Core_dealloc(CoreObject *self)
{
    PyMem_Free(self->positions);
    PyMem_Free(self->keys);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
compress_segment(CoreObject *self, const uint8_t *buf, Py_ssize_t start, Py_ssize_t n, int64_t base)
{
    const uint8_t *seg = buf + start;
    const int64_t origin = base + start; /* stream position of the segment's first byte */
    const Py_ssize_t m = n >= KEY ? n - KEY + 1 : 0; /* positions with a whole key */

    uint32_t local_bits = 4;
    while (((Py_ssize_t)1 << local_bits) < 2 * m)
        local_bits++;
    const uint32_t local_size = 1u << local_bits;
    const Py_ssize_t capacity = 1 + (9 * n + 7) / 8 + 1;

    /* one block: literal costs, the segment's own keys, the output */
    size_t cost_bytes = (size_t)(n + 1) * sizeof(uint32_t);
    size_t slot_bytes = (size_t)local_size * sizeof(Slot);
    uint8_t *block = PyMem_Malloc(cost_bytes + slot_bytes + (size_t)capacity);
    if (block == NULL)
        return PyErr_NoMemory();
    uint32_t *cost = (uint32_t *)block; /* bits of the literals before each position */
    Slot *slots = (Slot *)(block + cost_bytes);
    uint8_t *out = block + cost_bytes + slot_bytes;
    memset(slots, 0, slot_bytes);

    cost[0] = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        cost[i + 1] = cost[i] + literal_bits[seg[i]];

    BitWriter w = {out + 1, 0, capacity - 2, 0, 0, 0};
    const uint32_t mask = local_size - 1, local_shift = 32 - local_bits;
    const int64_t *positions = self->positions;
    const uint32_t *keys = self->keys;
    Py_ssize_t i = 0, registered = 0;
    while (i < n) {
        if (i < m) {
            for (; registered < i; registered++) {
                Slot *s = slot_for(slots, mask, local_shift, key_at(seg + registered));
                s->key = key_at(seg + registered);
                s->position = (uint32_t)registered + 1;
            }
            uint32_t key = key_at(seg + i);
            Py_ssize_t source = -1; /* index in buf */
            Slot *s = slot_for(slots, mask, local_shift, key);
            if (s->position) {
                source = start + (Py_ssize_t)s->position - 1;
            }
            else {
                uint32_t h = (key * MULTIPLIER) >> self->shift;
                int64_t stored = positions[h] - 1;
                if (stored >= base && keys[h] == key && origin + i - stored < HISTORY_SIZE
                    && stored - base < start)
                    source = (Py_ssize_t)(stored - base);
            }
            if (source >= 0) {
                Py_ssize_t target = start + i;
                Py_ssize_t length = common_length(buf, source, target, n - i);
                uint32_t dcode, dbits, lcode, lbits;
                distance_token((uint32_t)(target - source), &dcode, &dbits);
                length_token((uint32_t)length, &lcode, &lbits);
                if (dbits + lbits < cost[i + length] - cost[i]) {
                    put_bits(&w, dcode, dbits);
                    put_bits(&w, lcode, lbits);
                    i += length;
                    continue;
                }
            }
        }
        put_bits(&w, literal_code[seg[i]], literal_bits[seg[i]]);
        i++;
    }
    uint32_t unused = (8 - w.pending) & 7;
    if (w.pending)
        put_bits(&w, 0, unused);
    if (w.overflow) { /* cannot happen: a match costs fewer bits than its literals */
        PyMem_Free(block);
        PyErr_SetString(PyExc_SystemError, "ZGFX output longer than its bound");
        return NULL;
    }

    int64_t *table_positions = self->positions;
    uint32_t *table_keys = self->keys;
    for (Py_ssize_t j = 0; j < m; j++) {
        uint32_t key = key_at(seg + j);
        uint32_t h = (key * MULTIPLIER) >> self->shift;
        table_positions[h] = origin + j + 1;
        table_keys[h] = key;
    }

    out[0] = HEADER_COMPRESSED;
    out[1 + w.size] = (uint8_t)unused;
    PyObject *result = PyBytes_FromStringAndSize((const char *)out, w.size + 2);
    PyMem_Free(block);
    return result;
}

PyDoc_STRVAR(Core_compress_doc,
"compress(history, start, n, base) -> bytes\n\n"
"The compressed RDP8_BULK_ENCODED_DATA of history[start:start + n] (1..65535 bytes, the\n"
"last ones of the history), history[0] being stream position base; the hash table then\n"
"points at the segment's keys.");

static PyObject *
Core_compress(CoreObject *self, PyObject *args)
{
    Py_buffer history;
    Py_ssize_t start, n;
    long long base;
    if (!PyArg_ParseTuple(args, "y*nnL:compress", &history, &start, &n, &base))
        return NULL;
    PyObject *result = NULL;
    if (self->positions == NULL)
        PyErr_SetString(PyExc_ValueError, "Core not initialised");
    else if (n < 1 || n > SEGMENT_MAX)
        PyErr_Format(PyExc_ValueError, "a segment carries 1..65535 bytes, not %zd", n);
    else if (start < 0 || start > history.len - n)
        PyErr_Format(PyExc_ValueError, "segment %zd + %zd outside a history of %zd bytes", start, n,
                     history.len);
    else if (base < 0 || base > ((long long)1 << 60))
        PyErr_Format(PyExc_ValueError, "stream position %lld out of range", base);
    else
        result = compress_segment(self, (const uint8_t *)history.buf, start, n, (int64_t)base);
    PyBuffer_Release(&history);
    return result;
}

static PyMethodDef Core_methods[] = {
    {"compress", (PyCFunction)Core_compress, METH_VARARGS, Core_compress_doc},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(Core_doc,
"Core(table_bits=17): one compressor's hash table (2**table_bits slots of a stream position\n"
"and a 4-byte key) and the segment compressor over it.");

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "rdpfront._zgfx.Core",
    .tp_basicsize = sizeof(CoreObject),
    .tp_dealloc = (destructor)Core_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = Core_doc,
    .tp_methods = Core_methods,
    .tp_init = (initproc)Core_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "rdpfront._zgfx",
    .m_doc = "The RDP 8.0 bulk compressor's core (rdpfront.zgfx.Compressor) in C.",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__zgfx(void)
{
    init_literals();
    if (PyType_Ready(&CoreType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&CoreType);
    if (PyModule_AddObject(m, "Core", (PyObject *)&CoreType) < 0) {
        Py_DECREF(&CoreType);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "HISTORY_SIZE", HISTORY_SIZE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
