export function run() {
  for (;;) {}
}
