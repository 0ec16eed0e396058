// What the connector has produced and not yet asked Kafka to remove: the logical bytes (L1)
// and, for units written one by one, where each record landed (partition, offset) so a
// delete can find it. Bulk units are only counted (memory stays flat for large datasets).

export interface PlacedRecord {
  id: string;
  container: number;
  /** Record key: hex SHA-256 of the payload. */
  key: string;
  partition: number;
  offset: number;
  /** Key + value bytes. */
  bytes: number;
}

export class KafkaLedger {
  private bulkBytes = 0;
  private liveBytes = 0;
  /** Live records by unit id. */
  private readonly byId = new Map<string, PlacedRecord>();
  /** Where every unit written one by one went, removed or not (a duplicate's delete needs it after its twin's). */
  private readonly placements = new Map<string, PlacedRecord>();
  /** container/key → ids of live records with that key. */
  private readonly byKey = new Map<string, Set<string>>();
  /** container/partition → records in offset order, with the index of the first live one. */
  private readonly byPartition = new Map<string, { records: PlacedRecord[]; head: number }>();
  /** container/partition → offset below which records were deleted (DeleteRecords). */
  private readonly startOffsets = new Map<string, number>();

  /** Logical bytes (key + value) produced and not removed. */
  get bytes(): number {
    return this.bulkBytes + this.liveBytes;
  }

  addBulk(bytes: number): void {
    this.bulkBytes += bytes;
  }

  add(r: PlacedRecord): void {
    if (this.byId.has(r.id)) this.removeIds([r.id]);
    this.byId.set(r.id, r);
    this.placements.set(r.id, r);
    this.liveBytes += r.bytes;
    const k = `${r.container}/${r.key}`;
    let ids = this.byKey.get(k);
    if (!ids) this.byKey.set(k, (ids = new Set()));
    ids.add(r.id);
    const p = `${r.container}/${r.partition}`;
    let q = this.byPartition.get(p);
    if (!q) this.byPartition.set(p, (q = { records: [], head: 0 }));
    q.records.push(r);
  }

  /** Where a unit written by insert() in this cell went (also after it was removed). */
  placement(id: string): PlacedRecord | undefined {
    return this.placements.get(id);
  }

  isLive(id: string): boolean {
    return this.byId.has(id);
  }

  /** A tombstone for `key` in `container`: every live record with that key is gone. */
  removeKey(container: number, key: string): void {
    const ids = this.byKey.get(`${container}/${key}`);
    if (ids) this.removeIds([...ids]);
  }

  /** Where DeleteRecords last moved a partition's start offset (0 when never). */
  startOffset(container: number, partition: number): number {
    return this.startOffsets.get(`${container}/${partition}`) ?? 0;
  }

  /** DeleteRecords moved the start offset to `offset`: every record below it is gone. */
  removeBelow(container: number, partition: number, offset: number): void {
    const p = `${container}/${partition}`;
    this.startOffsets.set(p, Math.max(offset, this.startOffsets.get(p) ?? 0));
    const q = this.byPartition.get(p);
    if (!q) return;
    // Records are appended in offset order per partition (per-unit inserts await each ack).
    const gone: string[] = [];
    while (q.head < q.records.length && q.records[q.head]!.offset < offset) gone.push(q.records[q.head++]!.id);
    this.removeIds(gone);
  }

  private removeIds(ids: string[]): void {
    for (const id of ids) {
      const r = this.byId.get(id);
      if (!r) continue;
      this.byId.delete(id);
      this.liveBytes -= r.bytes;
      const k = `${r.container}/${r.key}`;
      const set = this.byKey.get(k);
      set?.delete(id);
      if (set && set.size === 0) this.byKey.delete(k);
    }
  }

  clear(): void {
    this.bulkBytes = 0;
    this.liveBytes = 0;
    this.byId.clear();
    this.placements.clear();
    this.byKey.clear();
    this.byPartition.clear();
    this.startOffsets.clear();
  }
}
