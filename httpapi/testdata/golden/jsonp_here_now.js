cb({"status":200,"message":"OK","service":"Presence","uuids":[],"occupancy":0})
