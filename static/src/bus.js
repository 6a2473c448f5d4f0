// A tiny in-page event bus (inbox refresh, push received, notifications changed …).
const handlers = new Map();
export const bus = {
  on(name, fn) {
    if (!handlers.has(name)) handlers.set(name, new Set());
    handlers.get(name).add(fn);
    return () => handlers.get(name).delete(fn);
  },
  emit(name, payload) {
    (handlers.get(name) || []).forEach((fn) => fn(payload));
  },
};
