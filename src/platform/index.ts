// The platform's public surface: the interface (types.ts) and the registry (registry.ts).

export * from './types';
export * from './registry';
