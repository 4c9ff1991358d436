export function run() {
  const hoard = [];
  for (;;) hoard.push(new Array(100000).fill("x".repeat(64)));
}
