// The named bits of CR0 and CR4 (SDM Vol. 3A, 2.5 "Control Registers", Figure 2-7), as data so
// that every view decodes and edits them the same way. Bits not listed are reserved.

import { BitField, flag } from './bitfields';

export const CR0_FIELDS: readonly BitField[] = Object.freeze([
  flag('PE', 0, 'Protection enable'),
  flag('MP', 1, 'Monitor coprocessor'),
  flag('EM', 2, 'Emulation (no x87 FPU)'),
  flag('TS', 3, 'Task switched'),
  flag('ET', 4, 'Extension type (reads as 1)'),
  flag('NE', 5, 'Numeric error (native x87 error reporting)'),
  flag('WP', 16, 'Write protect: supervisor writes honour read-only pages'),
  flag('AM', 18, 'Alignment mask'),
  flag('NW', 29, 'Not write-through'),
  flag('CD', 30, 'Cache disable'),
  flag('PG', 31, 'Paging'),
]);

export const CR4_FIELDS: readonly BitField[] = Object.freeze([
  flag('VME', 0, 'Virtual-8086 mode extensions'),
  flag('PVI', 1, 'Protected-mode virtual interrupts'),
  flag('TSD', 2, 'Time stamp disable (RDTSC at CPL 0 only)'),
  flag('DE', 3, 'Debugging extensions'),
  flag('PSE', 4, 'Page size extensions'),
  flag('PAE', 5, 'Physical address extension'),
  flag('MCE', 6, 'Machine-check enable'),
  flag('PGE', 7, 'Page global enable'),
  flag('PCE', 8, 'Performance-monitoring counter enable'),
  flag('OSFXSR', 9, 'OS support for FXSAVE and FXRSTOR'),
  flag('OSXMMEXCPT', 10, 'OS support for unmasked SIMD floating-point exceptions'),
  flag('UMIP', 11, 'User-mode instruction prevention'),
  flag('LA57', 12, '57-bit linear addresses (5-level paging)'),
  flag('VMXE', 13, 'VMX enable'),
  flag('SMXE', 14, 'SMX enable'),
  flag('FSGSBASE', 16, 'RDFSBASE, RDGSBASE, WRFSBASE and WRGSBASE enable'),
  flag('PCIDE', 17, 'Process-context identifiers enable'),
  flag('OSXSAVE', 18, 'XSAVE and processor extended states enable'),
  flag('KL', 19, 'Key Locker enable'),
  flag('SMEP', 20, 'Supervisor-mode execution prevention'),
  flag('SMAP', 21, 'Supervisor-mode access prevention'),
  flag('PKE', 22, 'Protection keys for user-mode pages'),
  flag('CET', 23, 'Control-flow enforcement technology'),
  flag('PKS', 24, 'Protection keys for supervisor-mode pages'),
  flag('UINTR', 25, 'User interrupts enable'),
]);
