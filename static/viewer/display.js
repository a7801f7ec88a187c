// Decoding and drawing: H.264 through WebCodecs, JPEG/WebP rectangles through createImageBitmap.
// Frames are drawn strictly in arrival order (a touch-up must never be overdrawn by an older
// video frame), each is acknowledged once drawn (flow control), and for H.264 only the damaged
// rectangles of the decoded picture are drawn so lossless touch-ups stay crisp.

const H264_CODEC = "avc1.42E033"; // constrained baseline; in-band SPS/PPS (Annex-B)

export async function webCodecsUsable() {
  if (typeof VideoDecoder === "undefined") return false;
  try {
    const { supported } = await VideoDecoder.isConfigSupported({
      codec: H264_CODEC, optimizeForLatency: true, hardwareAcceleration: "no-preference",
    });
    return !!supported;
  } catch {
    return false;
  }
}

export class Display {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{ack: (seq:number)=>void, keyframe: ()=>void, decoderFailed: (e:Error)=>void,
   *          drawn?: (info:object)=>void}} hooks
   */
  constructor(canvas, hooks) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d", { alpha: false, desynchronized: true });
    this.hooks = hooks;
    this.queue = []; // {seq, header, ready:boolean, draw:()=>void, failed?:boolean}
    this.decoder = null;
    this.decoderKeyed = false;
    this.pendingVideo = new Map(); // timestamp(seq) -> queue entry
    this.stats = { frames: 0, bytes: 0, drawn: 0, copies: 0, lastDrawAt: 0, decodeErrors: 0, byCodec: {} };
  }

  resize(width, height) {
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
      this.ctx.fillStyle = "#000";
      this.ctx.fillRect(0, 0, width, height);
    }
  }

  reset() {
    for (const entry of this.queue) entry.dispose?.();
    this.queue = [];
    this.pendingVideo.clear();
    this.closeDecoder();
  }

  closeDecoder() {
    if (this.decoder && this.decoder.state !== "closed") {
      try { this.decoder.close(); } catch { /* already closed */ }
    }
    this.decoder = null;
    this.decoderKeyed = false;
  }

  openDecoder() {
    this.decoder = new VideoDecoder({
      output: (frame) => this.videoOutput(frame),
      error: (e) => {
        this.stats.decodeErrors++;
        this.decoder = null;
        this.hooks.decoderFailed(e);
      },
    });
    this.decoder.configure({ codec: H264_CODEC, optimizeForLatency: true });
    this.decoderKeyed = false;
  }

  /** A `frame` message from the server. */
  frame(header, payload) {
    this.stats.frames++;
    this.stats.bytes += payload.byteLength;
    if (header.width && header.height) this.resize(header.width, header.height);
    const entry = { seq: header.seq, header, ready: false, draw: null };
    this.queue.push(entry);
    try {
      if (header.codec === "h264") this.videoFrame(entry, payload);
      else if (header.codec === "jpeg" || header.codec === "webp") this.imageFrame(entry, payload);
      else if (header.codec === "prle") this.rleFrame(entry, payload);
      else if (header.codec === "indexed") this.indexedFrame(entry, payload);
      else if (header.codec === "copy") this.copyFrame(entry);
      else this.skip(entry); // an unknown codec: ack and move on
    } catch (e) {
      console.warn("wrd: frame failed", e);
      this.skip(entry);
    }
  }

  skip(entry) {
    entry.ready = true;
    entry.draw = () => {};
    this.flush();
  }

  videoFrame(entry, payload) {
    const { header } = entry;
    if (!this.decoder) this.openDecoder();
    if (!header.key && !this.decoderKeyed) {
      // A delta frame without its reference: drop it and ask for a keyframe.
      this.hooks.keyframe();
      this.skip(entry);
      return;
    }
    if (header.key) this.decoderKeyed = true;
    this.pendingVideo.set(header.seq, entry);
    entry.dispose = () => entry.videoFrame?.close();
    this.decoder.decode(new EncodedVideoChunk({
      type: header.key ? "key" : "delta",
      timestamp: header.seq,
      data: payload,
    }));
  }

  videoOutput(frame) {
    const entry = this.pendingVideo.get(frame.timestamp);
    if (!entry) { frame.close(); return; }
    this.pendingVideo.delete(frame.timestamp);
    entry.videoFrame = frame;
    entry.draw = () => {
      const { rects } = entry.header;
      const { width, height } = this.canvas;
      const ctx = this.ctx;
      for (const [x, y, w, h] of rects) {
        const cw = Math.min(w, width - x), ch = Math.min(h, height - y);
        if (cw > 0 && ch > 0) ctx.drawImage(frame, x, y, cw, ch, x, y, cw, ch);
      }
      frame.close();
    };
    entry.ready = true;
    this.flush();
  }

  copyFrame(entry) {
    entry.draw = () => this.copy(entry.header.rects);
    entry.ready = true;
    this.flush();
  }

  copy(rects) {
    // Scrolling: move pixels already on the canvas ([x, y, w, h, sx, sy]: from sx,sy to x,y),
    // through a scratch canvas: the source may overlap the destination, and drawing a canvas
    // onto itself makes Chromium snapshot the whole canvas first (~20 ms a copy at 1080p
    // without a GPU, against ~2 ms for the two region copies).
    for (const [x, y, w, h, sx, sy] of rects) {
      if (w <= 0 || h <= 0) continue;
      const scratch = this.scratchCanvas(w, h);
      scratch.ctx.drawImage(this.canvas, sx, sy, w, h, 0, 0, w, h);
      this.ctx.drawImage(scratch.canvas, 0, 0, w, h, x, y, w, h);
    }
  }

  scratchCanvas(w, h) {
    let s = this.scratch;
    if (!s || s.canvas.width < w || s.canvas.height < h) {
      const canvas = document.createElement("canvas");
      canvas.width = Math.max(w, s ? s.canvas.width : 0);
      canvas.height = Math.max(h, s ? s.canvas.height : 0);
      s = this.scratch = { canvas, ctx: canvas.getContext("2d", { alpha: false }) };
    }
    return s;
  }

  rleFrame(entry, payload) {
    // Palette + run-length rectangles (tiny updates: typing): decoded and drawn synchronously.
    const images = [];
    let offset = 0;
    for (const [x, y, w, h, n] of entry.header.rects) {
      const end = offset + n;
      if (end > payload.byteLength) throw new Error("prle rectangle past the payload");
      const count = payload[offset] + 1;
      const palette = new Uint32Array(count);
      let p = offset + 1;
      for (let i = 0; i < count; i++, p += 3) {
        palette[i] = 0xff000000 | (payload[p] << 16) | (payload[p + 1] << 8) | payload[p + 2]; // B,G,R -> RGBA LE
      }
      const image = new ImageData(w, h);
      const dst = new Uint32Array(image.data.buffer);
      let i = 0;
      for (; p + 1 < end; p += 2) {
        const run = payload[p] + 1, colour = palette[payload[p + 1]];
        if (i + run > dst.length) throw new Error("prle run past the rectangle");
        dst.fill(colour, i, i + run);
        i += run;
      }
      if (i !== dst.length) throw new Error("prle rectangle incomplete");
      offset = end;
      images.push({ x, y, image });
    }
    entry.draw = () => { for (const { x, y, image } of images) this.ctx.putImageData(image, x, y); };
    entry.ready = true;
    this.flush();
  }

  indexedFrame(entry, payload) {
    // Palette + bit-packed indices (1, 2 or 4 bits, rows byte-aligned, MSB first): scrolled-in
    // text rows on a compressed socket; decoded and drawn synchronously.
    const images = [];
    let offset = 0;
    for (const [x, y, w, h, n] of entry.header.rects) {
      const end = offset + n;
      if (end > payload.byteLength) throw new Error("indexed rectangle past the payload");
      const count = payload[offset] + 1;
      if (count > 16) throw new Error("indexed palette over 16 colours");
      const bits = count <= 2 ? 1 : count <= 4 ? 2 : 4;
      const stride = Math.ceil((w * bits) / 8);
      let p = offset + 1;
      if (end - p !== 3 * count + stride * h) throw new Error("indexed rectangle of the wrong size");
      const palette = new Uint32Array(16); // indices past the palette draw opaque black
      palette.fill(0xff000000);
      for (let i = 0; i < count; i++, p += 3) {
        palette[i] = 0xff000000 | (payload[p] << 16) | (payload[p + 1] << 8) | payload[p + 2]; // B,G,R -> RGBA LE
      }
      const image = new ImageData(w, h);
      const dst = new Uint32Array(image.data.buffer);
      const mask = (1 << bits) - 1, perByte = 8 / bits;
      for (let row = 0, i = 0; row < h; row++, p += stride) {
        for (let col = 0; col < w; col++, i++) {
          const byte = payload[p + ((col / perByte) | 0)];
          dst[i] = palette[(byte >> (8 - bits * ((col % perByte) + 1))) & mask];
        }
      }
      offset = end;
      images.push({ x, y, image });
    }
    entry.draw = () => { for (const { x, y, image } of images) this.ctx.putImageData(image, x, y); };
    entry.ready = true;
    this.flush();
  }

  imageFrame(entry, payload) {
    const type = entry.header.codec === "jpeg" ? "image/jpeg" : "image/webp";
    let offset = 0;
    const jobs = [];
    for (const [x, y, w, h, n] of entry.header.rects) {
      const blob = new Blob([payload.subarray(offset, offset + n)], { type });
      offset += n;
      jobs.push(createImageBitmap(blob).then((bitmap) => ({ x, y, w, h, bitmap })));
    }
    Promise.all(jobs).then((images) => {
      entry.dispose = () => images.forEach((i) => i.bitmap.close());
      entry.draw = () => {
        for (const { x, y, bitmap } of images) {
          this.ctx.drawImage(bitmap, x, y);
          bitmap.close();
        }
      };
      entry.ready = true;
      this.flush();
    }, (e) => {
      console.warn("wrd: image decode failed", e);
      this.skip(entry);
    });
  }

  flush() {
    let last = null;
    while (this.queue.length && this.queue[0].ready) {
      const entry = this.queue.shift();
      // An image frame may carry its update's copies ("copy"): they move the canvas first.
      const riding = entry.header.codec !== "copy" && Array.isArray(entry.header.copy);
      if (riding) this.copy(entry.header.copy);
      entry.draw();
      if (riding || entry.header.codec === "copy") this.stats.copies++;
      this.stats.drawn++;
      const codec = entry.header.codec;
      this.stats.byCodec[codec] = (this.stats.byCodec[codec] || 0) + 1;
      if (entry.header.touchup) this.stats.touchups = (this.stats.touchups || 0) + 1;
      last = entry;
    }
    if (last) {
      this.hooks.ack(last.seq);
      this.stats.lastDrawAt = performance.now();
      this.hooks.drawn?.({ seq: last.seq, codec: last.header.codec, at: this.stats.lastDrawAt });
    }
  }
}
