// The RFLAGS register's fields (SDM Vol. 1, 3.4.3, Figure 3-8; Vol. 3A, 2.3 for the system
// flags), as data so that every view decodes the register the same way.

import { BitField, flag } from './bitfields';

export const RFLAGS_FIELDS: readonly BitField[] = Object.freeze([
  flag('CF', 0, 'Carry flag'),
  flag('PF', 2, 'Parity flag'),
  flag('AF', 4, 'Auxiliary carry flag'),
  flag('ZF', 6, 'Zero flag'),
  flag('SF', 7, 'Sign flag'),
  flag('TF', 8, 'Trap flag'),
  flag('IF', 9, 'Interrupt enable flag'),
  flag('DF', 10, 'Direction flag'),
  flag('OF', 11, 'Overflow flag'),
  { name: 'IOPL', lsb: 12, width: 2, description: 'I/O privilege level' },
  flag('NT', 14, 'Nested task'),
  flag('RF', 16, 'Resume flag'),
  flag('VM', 17, 'Virtual-8086 mode'),
  flag('AC', 18, 'Alignment check / access control'),
  flag('VIF', 19, 'Virtual interrupt flag'),
  flag('VIP', 20, 'Virtual interrupt pending'),
  flag('ID', 21, 'ID flag (CPUID available)'),
]);

/** Bit 1 reads as 1; bits 3, 5, 15 and 22-63 are reserved and read as 0. */
export const RFLAGS_FIXED1 = 0x2n;
export const RFLAGS_WRITABLE = 0x3f7fd5n;
