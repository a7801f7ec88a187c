// AudioWorklet processor of the viewer's microphone (docs/microphone.md): the capture, mixed
// to mono, as 16-bit little-endian PCM in 20 ms chunks posted to the page. The AudioContext
// runs at 48 kHz, so the browser has already resampled the device to the desktop's rate.

const CHUNK = 960; // samples: 20 ms at 48 kHz

class MicrophoneCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.chunk = new Int16Array(CHUNK);
    this.filled = 0;
  }

  process(inputs) {
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true;
    const frames = channels[0].length;
    for (let i = 0; i < frames; i++) {
      let sum = 0;
      for (let c = 0; c < channels.length; c++) sum += channels[c][i];
      const s = Math.max(-1, Math.min(1, sum / channels.length));
      this.chunk[this.filled++] = s < 0 ? s * 32768 : s * 32767;
      if (this.filled === CHUNK) {
        this.port.postMessage(this.chunk.buffer, [this.chunk.buffer]);
        this.chunk = new Int16Array(CHUNK);
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor("wrd-microphone-capture", MicrophoneCapture);
