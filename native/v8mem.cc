// The one V8 call the addon needs that Node-API does not offer: the isolate's low-memory
// notification. It collects all garbage with the "reduce memory footprint" flag, which also
// shrinks the young generation back to its initial size; a plain full GC (global.gc) keeps
// the young generation at the largest size it ever grew to (measured: new space 8 MiB before
// and after gc(), 1 MiB with 0.3 MiB resident after this call).
#include <v8.h>

extern "C" int qb_v8_low_memory_notification(void) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (isolate == nullptr) return 0;
  isolate->LowMemoryNotification();
  return 1;
}

// The quiet-time collection without a long pause (src/daemon/daemon.ts): V8's moderate
// memory-pressure notification starts incremental marking with the "reduce memory footprint"
// flag, which advances in steps of ~0.1 ms between the event loop's tasks and ends in a short
// finalising pause (measured on an idle 3-node daemon: 4-7 ms of steps over 6-9 ms, a final
// pause of 0.9-1.5 ms; the low-memory notification above: two full collections of 5-10 ms each,
// during which the ring waited). Its end is seen in a GC epilogue callback: it counts full
// collections and, when asked, puts the thread back to SCHED_RR at the highest priority there
// and then, so a daemon that lowered itself for the collection is real-time again as soon as
// the collection is over, not at its next timer.
#include <atomic>
#include <sched.h>

#include <cstring>

static std::atomic<unsigned> full_gcs{0};
static std::atomic<bool> restore_rr{false};
static bool epilogue_added = false;
/* The old generation's bytes when the last full collection ended (or when first asked). */
static std::atomic<size_t> old_after_full{0};
static bool old_known = false;

/* Bytes of objects in every space but the young generation's. */
static size_t old_generation_bytes(v8::Isolate* isolate) {
  size_t sum = 0;
  v8::HeapSpaceStatistics s;
  for (size_t i = 0; i < isolate->NumberOfHeapSpaces(); i++) {
    if (!isolate->GetHeapSpaceStatistics(&s, i)) continue;
    const char* name = s.space_name();
    if (std::strcmp(name, "new_space") == 0 || std::strcmp(name, "new_large_object_space") == 0) continue;
    sum += s.space_used_size();
  }
  return sum;
}

static void on_gc_epilogue(v8::Isolate* isolate, v8::GCType type, v8::GCCallbackFlags, void*) {
  if ((type & v8::kGCTypeMarkSweepCompact) == 0) return;
  full_gcs.fetch_add(1, std::memory_order_relaxed);
  old_after_full.store(old_generation_bytes(isolate), std::memory_order_relaxed);
  old_known = true;
  if (restore_rr.exchange(false)) {
    struct sched_param param = {};
    param.sched_priority = sched_get_priority_max(SCHED_RR);
    sched_setscheduler(0, SCHED_RR, &param); // checked by the caller once it sees the count move
  }
}

static void ensure_epilogue(v8::Isolate* isolate) {
  if (epilogue_added) return;
  isolate->AddGCEpilogueCallback(on_gc_epilogue, nullptr, v8::kGCTypeMarkSweepCompact);
  epilogue_added = true;
}

extern "C" int qb_v8_collect_incrementally(int restore) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (isolate == nullptr) return 0;
  ensure_epilogue(isolate);
  restore_rr.store(restore != 0);
  isolate->MemoryPressureNotification(v8::MemoryPressureLevel::kModerate);
  return 1;
}

extern "C" unsigned qb_v8_full_gcs(void) { return full_gcs.load(std::memory_order_relaxed); }

extern "C" void qb_v8_cancel_restore(void) { restore_rr.store(false); }

// How far the old generation grew since the last full collection ended (the first call counts
// from now). V8 marks incrementally only once the old generation holds more than 8 MB; below
// that, which is where a daemon's heap stays, every full collection it starts by itself is
// atomic: 5-10 ms during which the ring waits for this node (bench/README.md item 42). Seeing
// the growth lets the daemon start the incremental kind (qb_v8_collect_incrementally) first.
extern "C" long long qb_v8_old_generation_growth(void) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (isolate == nullptr) return -1;
  ensure_epilogue(isolate);
  const size_t now = old_generation_bytes(isolate);
  if (!old_known) {
    old_after_full.store(now, std::memory_order_relaxed);
    old_known = true;
  }
  return static_cast<long long>(now) - static_cast<long long>(old_after_full.load(std::memory_order_relaxed));
}
