// What every benchmark here shares: the median of several runs, and the line of a failed run's
// output a results table shows.

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The first meaningful line of a failed run's stderr (glog's "W1125 12:00:00.000 123 file.go:1] " prefix dropped), safe in a Markdown table. */
export function firstLine(text: string): string {
  const line = text.split('\n').map((l) => l.replace(/^[IWEF]\d{4} [\d:.]+\s+\d+ \S+\] /, '').trim()).find((l) => l !== '');
  return (line ?? '').slice(0, 160).replace(/\|/g, '\\|');
}
