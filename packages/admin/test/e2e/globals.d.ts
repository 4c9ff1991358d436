import type { AdminTestPage } from "./fixtures/admin-page.js";

declare global {
  var adminTest: AdminTestPage;
}
