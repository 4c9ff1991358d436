import { createMemoryRateLimitStore, createMemoryReplayStore } from "../../src/index.js";
import { rateLimitStoreContract, replayStoreContract } from "../../src/testing/store-contracts.js";

// A memory store is one process's: "two processes" are the same store twice.
rateLimitStoreContract("memory", async ({ now }) => {
  const store = createMemoryRateLimitStore({ now });
  return { stores: [store, store], dispose: async () => {} };
});

replayStoreContract("memory", async () => {
  const store = createMemoryReplayStore();
  return { stores: [store, store], dispose: async () => {} };
});
