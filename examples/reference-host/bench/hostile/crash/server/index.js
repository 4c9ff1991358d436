export function run() {
  throw new Error("crashed on purpose");
}
