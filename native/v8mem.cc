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

static std::atomic<unsigned> full_gcs{0};
static std::atomic<bool> restore_rr{false};
static bool epilogue_added = false;

static void on_gc_epilogue(v8::Isolate*, v8::GCType type, v8::GCCallbackFlags, void*) {
  if ((type & v8::kGCTypeMarkSweepCompact) == 0) return;
  full_gcs.fetch_add(1, std::memory_order_relaxed);
  if (restore_rr.exchange(false)) {
    struct sched_param param = {};
    param.sched_priority = sched_get_priority_max(SCHED_RR);
    sched_setscheduler(0, SCHED_RR, &param); // checked by the caller once it sees the count move
  }
}

extern "C" int qb_v8_collect_incrementally(int restore) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (isolate == nullptr) return 0;
  if (!epilogue_added) {
    isolate->AddGCEpilogueCallback(on_gc_epilogue, nullptr, v8::kGCTypeMarkSweepCompact);
    epilogue_added = true;
  }
  restore_rr.store(restore != 0);
  isolate->MemoryPressureNotification(v8::MemoryPressureLevel::kModerate);
  return 1;
}

extern "C" unsigned qb_v8_full_gcs(void) { return full_gcs.load(std::memory_order_relaxed); }

extern "C" void qb_v8_cancel_restore(void) { restore_rr.store(false); }
