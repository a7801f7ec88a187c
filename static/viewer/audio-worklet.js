// AudioWorklet processor of the viewer's sound (docs/audio.md): a jitter buffer of decoded
// stereo samples, played at the context's rate (48 kHz).
//
// The main thread posts {left, right} Float32Arrays. Latency stays bounded: past MAX_MS of
// queued sound the oldest is dropped down to TARGET_MS; on an underrun the output is silent
// until START_MS has gathered again. With {capture: true} every rendered block is posted back
// (tests read the audio that was actually played; ``frame`` is the block's first sample on the
// context's clock, which getOutputTimestamp() maps to the page's clock).

const TARGET_MS = 40;
const START_MS = 30;
const MAX_MS = 150;

class WrdAudioProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.chunks = []; // [{left, right, offset}]
    this.queued = 0; // samples per channel
    this.playing = false;
    this.capture = false;
    this.stats = { played: 0, underruns: 0, dropped: 0 };
    this.port.onmessage = (e) => this.receive(e.data);
  }

  receive(data) {
    if (data.capture !== undefined) {
      this.capture = !!data.capture;
      return;
    }
    if (data.flush) {
      this.chunks = [];
      this.queued = 0;
      this.playing = false;
      return;
    }
    this.chunks.push({ left: data.left, right: data.right, offset: 0 });
    this.queued += data.left.length;
    const max = (MAX_MS * sampleRate) / 1000;
    if (this.queued > max) this.drop(this.queued - (TARGET_MS * sampleRate) / 1000);
  }

  drop(samples) {
    this.stats.dropped += samples;
    while (samples > 0 && this.chunks.length) {
      const c = this.chunks[0];
      const take = Math.min(samples, c.left.length - c.offset);
      c.offset += take;
      samples -= take;
      this.queued -= take;
      if (c.offset >= c.left.length) this.chunks.shift();
    }
  }

  process(inputs, outputs) {
    const out = outputs[0];
    const left = out[0], right = out[1] || out[0];
    const n = left.length;
    if (!this.playing && this.queued >= (START_MS * sampleRate) / 1000) this.playing = true;
    let written = 0;
    if (this.playing) {
      while (written < n && this.chunks.length) {
        const c = this.chunks[0];
        const take = Math.min(n - written, c.left.length - c.offset);
        left.set(c.left.subarray(c.offset, c.offset + take), written);
        right.set(c.right.subarray(c.offset, c.offset + take), written);
        c.offset += take;
        written += take;
        this.queued -= take;
        if (c.offset >= c.left.length) this.chunks.shift();
      }
      if (written < n) {
        this.playing = false;
        this.stats.underruns++;
      }
    }
    left.fill(0, written);
    right.fill(0, written);
    this.stats.played += written;
    if (this.capture && written) {
      this.port.postMessage({ left: left.slice(0, written), right: right.slice(0, written), queued: this.queued,
        frame: currentFrame });
    }
    return true;
  }
}

registerProcessor("wrd-audio", WrdAudioProcessor);
