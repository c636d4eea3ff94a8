package scenario

import (
	"encoding/binary"
	"math"
	"time"
)

// WAVContentType is the content type of ToneWAV's files.
const WAVContentType = "audio/wav"

// wavSampleRate is telephone audio: 8 kHz, 16-bit, mono.
const wavSampleRate = 8000

// ToneWAV returns a PCM WAV file of a sine tone at freqHz lasting d (at
// most a minute), faded in and out so it does not click: a small real audio
// file a media hook's receiver can play.
func ToneWAV(freqHz float64, d time.Duration) []byte {
	d = min(max(d, 0), time.Minute)
	samples := int(d.Seconds() * wavSampleRate)
	const bytesPerSample = 2
	dataBytes := samples * bytesPerSample
	out := make([]byte, 44, 44+dataBytes)
	copy(out[0:], "RIFF")
	binary.LittleEndian.PutUint32(out[4:], uint32(36+dataBytes))
	copy(out[8:], "WAVE")
	copy(out[12:], "fmt ")
	binary.LittleEndian.PutUint32(out[16:], 16) // fmt chunk size
	binary.LittleEndian.PutUint16(out[20:], 1)  // PCM
	binary.LittleEndian.PutUint16(out[22:], 1)  // mono
	binary.LittleEndian.PutUint32(out[24:], wavSampleRate)
	binary.LittleEndian.PutUint32(out[28:], wavSampleRate*bytesPerSample) // byte rate
	binary.LittleEndian.PutUint16(out[32:], bytesPerSample)               // block align
	binary.LittleEndian.PutUint16(out[34:], 8*bytesPerSample)             // bits per sample
	copy(out[36:], "data")
	binary.LittleEndian.PutUint32(out[40:], uint32(dataBytes))
	fade := wavSampleRate / 50 // 20 ms
	var sample [2]byte
	for i := range samples {
		amplitude := 0.3
		if edge := min(i, samples-1-i); edge < fade {
			amplitude *= float64(edge) / float64(fade)
		}
		v := amplitude * math.Sin(2*math.Pi*freqHz*float64(i)/wavSampleRate)
		binary.LittleEndian.PutUint16(sample[:], uint16(int16(v*math.MaxInt16)))
		out = append(out, sample[:]...)
	}
	return out
}
