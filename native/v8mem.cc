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
