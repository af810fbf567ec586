# A real ONVIF client (onvif-zeep, from PyPI) against one simulated camera: prints what it read
# as one JSON object. Run by tests/onvif_interop.rs inside a venv that the test creates.
import json, sys
from onvif import ONVIFCamera
host, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
cam = ONVIFCamera(host, port, user, pw)
info = cam.devicemgmt.GetDeviceInformation()
dt = cam.devicemgmt.GetSystemDateAndTime()
media = cam.create_media_service()
profiles = media.GetProfiles()
token = profiles[0].token
req = media.create_type('GetStreamUri')
req.ProfileToken = token
req.StreamSetup = {'Stream': 'RTP-Unicast', 'Transport': {'Protocol': 'RTSP'}}
uri = media.GetStreamUri(req)
snap = media.GetSnapshotUri({'ProfileToken': token})
print(json.dumps({
    'manufacturer': info.Manufacturer, 'model': info.Model, 'serial': info.SerialNumber,
    'year': dt.UTCDateTime.Date.Year, 'profiles': [p.token for p in profiles],
    'stream_uri': uri.Uri, 'snapshot_uri': snap.Uri,
}, ensure_ascii=False))
