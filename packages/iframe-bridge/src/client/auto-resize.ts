/**
 * Reports the document's height to the host whenever it changes, so the
 * iframe fits its content without a scrollbar. It measures <html>'s border
 * box rather than scrollHeight: scrollHeight never drops below the current
 * iframe height, so a page could grow but never shrink.
 */
export function watchHeight(root: HTMLElement, report: (height: number) => void): () => void {
  let last = -1;
  const measure = () => {
    const height = Math.ceil(root.getBoundingClientRect().height);
    if (height === last) return;
    last = height;
    report(height);
  };
  if (typeof ResizeObserver === "undefined") {
    measure();
    return () => undefined;
  }
  const observer = new ResizeObserver(measure);
  observer.observe(root);
  measure();
  return () => observer.disconnect();
}
